// Formatting and small DOM helpers of the mmbot dashboard.

const css = getComputedStyle(document.documentElement);

export function color(name) {
  return css.getPropertyValue(name).trim();
}

export function fmtNumber(value, digits) {
  if (!Number.isFinite(value)) return String(value);
  if (digits !== undefined) return value.toFixed(digits);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return value.toFixed(abs >= 1000 ? 2 : abs >= 1 ? 4 : 6).replace(/\.?0+$/, "");
}

export function text(value, fallback = "–") {
  if (value === null || value === undefined || value === "") return fallback;
  if (typeof value === "number") return fmtNumber(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

// Sizes come at the lot precision (e.g. 0.00030000 BTC): shown without trailing zeros.
export function size(value) {
  if (typeof value !== "string" || !value.includes(".")) return value ?? "";
  return value.replace(/0+$/, "").replace(/\.$/, "");
}

// Money as the server sends it: text is shown as is, numbers rounded for reading.
export function fmtMoney(value) {
  if (typeof value === "string") return value;
  if (typeof value !== "number") return "–";
  return value.toFixed(Math.abs(value) < 1 ? 4 : 2);
}

export function timeOf(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

export function nsTime(ns) {
  return typeof ns === "number" && ns > 0 ? timeOf(ns / 1e9) : "–";
}

export function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

export function kvList(container, rows) {
  container.replaceChildren();
  for (const [key, value] of rows) {
    container.append(el("span", "k", key), el("span", "v", text(value)));
  }
}

// Nested /status objects (markouts, obligations) shown as dotted keys, whatever their shape.
export function flatten(value, prefix = "", out = [], depth = 0) {
  if (value && typeof value === "object" && !Array.isArray(value) && depth < 4) {
    for (const [key, item] of Object.entries(value)) {
      flatten(item, prefix ? `${prefix}.${key}` : key, out, depth + 1);
    }
  } else if (Array.isArray(value)) {
    if (value.length && typeof value[0] === "object") out.push([prefix, `${value.length} entries`]);
    else out.push([prefix, value.join(", ") || "–"]);
  } else {
    out.push([prefix, value]);
  }
  return out;
}
