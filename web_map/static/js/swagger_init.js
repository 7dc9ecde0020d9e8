// Starts Swagger UI on /docs (api/docs_pages.py). The page carries no inline script (the
// Content-Security-Policy allows scripts from gridmap's own files only): the OpenAPI URL
// comes from the container's data-openapi-url attribute.
(function () {
  "use strict";
  const el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // No badge image from validator.swagger.io: nothing leaves the closed network.
    validatorUrl: null,
  });
})();
