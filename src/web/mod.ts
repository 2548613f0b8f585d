/**
 * Seeing a mirror: dependency graphs (DOT, Mermaid, SVG), the static report and the local web
 * UI, all rendered from the library's read API.
 *
 * @module
 */
export * from "./graph.ts";
export * from "./site.ts";
export * from "./report.ts";
