// Reads graphs separated by NUL bytes on stdin; prints one JSON line per graph:
// {"ok": true} or {"ok": false, "error": "..."} (mermaid.parse, mermaid's own parser).
import { JSDOM } from "jsdom";
const dom = new JSDOM("<!DOCTYPE html><body></body>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
for (const key of ["DOMParser", "Element", "HTMLElement", "Node", "navigator"]) {
  if (!(key in globalThis)) globalThis[key] = dom.window[key];
}
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const graphs = Buffer.concat(chunks).toString("utf8").split("\0").filter((g) => g.trim());
for (const graph of graphs) {
  try {
    await mermaid.parse(graph);
    console.log(JSON.stringify({ ok: true }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: String(error?.message ?? error) }));
  }
}
