"""The pages: folium maps built by pure functions and the self-hosted Leaflet assets."""
