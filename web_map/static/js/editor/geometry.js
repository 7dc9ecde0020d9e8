/* The editor's geometry, pure functions of GeoJSON coordinates: which polygon holds a
 * point, which grid a drawn line crosses, where a grid's label goes. */

export function ringContains(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function polygonContains(geometry, x, y) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polys.some((rings) => ringContains(rings[0], x, y) && !rings.slice(1).some((hole) => ringContains(hole, x, y)));
}

/** Points along a line, every `n`th of each segment: to find which grid a line cuts. */
export function samples(coords, n) {
  const out = [];
  for (let i = 1; i < coords.length; i++) {
    const [x0, y0] = coords[i - 1];
    const [x1, y1] = coords[i];
    for (let k = 0; k <= n; k++) out.push([x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n]);
  }
  return out;
}

/** A point inside the largest part, for a label on a concave grid. */
export function labelPoint(geometry) {
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const ring = polys.reduce((a, b) => (b[0].length > a[0].length ? b : a))[0];
  const xs = ring.map((c) => c[0]);
  const ys = ring.map((c) => c[1]);
  const y = (Math.min(...ys) + Math.max(...ys)) / 2;
  // The middle of the widest inside stretch along the horizontal through the middle.
  const cuts = [];
  for (let i = 1; i < ring.length; i++) {
    const [x0, y0] = ring[i - 1];
    const [x1, y1] = ring[i];
    if (y0 > y !== y1 > y) cuts.push(x0 + ((y - y0) * (x1 - x0)) / (y1 - y0));
  }
  cuts.sort((a, b) => a - b);
  let best = [(Math.min(...xs) + Math.max(...xs)) / 2, 0];
  for (let i = 0; i + 1 < cuts.length; i += 2) {
    if (cuts[i + 1] - cuts[i] > best[1]) best = [(cuts[i] + cuts[i + 1]) / 2, cuts[i + 1] - cuts[i]];
  }
  return [y, best[0]];
}
