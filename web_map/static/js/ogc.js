/* Reading an area layer from the OGC API (/ogc/collections/{layer}/items), as the command
 * view and the boundary editor both do: page by page along the `next` links, up to a
 * bound, with the answer's `numberMatched` saying when a layer is bigger than that. */

import { api } from "./common.js";

/** The features of `layer`, at most `max` of them kept (one more is asked for, to know
 * whether there are more): {features, tooMany}. */
export async function collectionItems(layer, max) {
  const features = [];
  let url = `/ogc/collections/${encodeURIComponent(layer)}/items?limit=${max + 1}`;
  while (url && features.length <= max) {
    const fc = await api(url);
    features.push(...((fc && fc.features) || []));
    if (fc && typeof fc.numberMatched === "number" && fc.numberMatched > max) {
      return { features, tooMany: true };
    }
    const next = ((fc && fc.links) || []).find((l) => l.rel === "next");
    url = next && features.length <= max ? next.href : null;
  }
  return { features, tooMany: features.length > max };
}

/** How many features `layer` has, from a one-feature answer (null when it does not say). */
export async function collectionSize(layer) {
  const probe = await api(`/ogc/collections/${encodeURIComponent(layer)}/items?limit=1`);
  return probe && typeof probe.numberMatched === "number" ? probe.numberMatched : null;
}
