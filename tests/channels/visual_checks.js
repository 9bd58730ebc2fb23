// What a designer checks on a page, measured from computed styles (see visual_checks.py).
(() => {
  const rgba = (s) => {
    const m = /rgba?\(([^)]+)\)/.exec(s || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const dark = matchMedia("(prefers-color-scheme: dark)").matches;
  const canvas = dark ? [18, 18, 18, 1] : [255, 255, 255, 1];
  const behind = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    let bg = canvas;
    for (const e of chain) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) bg = over(c, bg);
    }
    return bg;
  };
  const visible = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true});
  const hex = (c) => "#" + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width, height: r.height}; };

  const lowContrast = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/[\s\u034f\u200c\u00a0]+/g, " ").trim();
    const el = node.parentElement;
    if (!text || !el || seen.has(el) || !visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    if (!range.getClientRects().length) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const bg = behind(el);
    const fg = over(rgba(style.color), bg);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const r = ratio(fg, bg);
    if (r < (large ? 3 : 4.5)) {
      lowContrast.push({text: text.slice(0, 60), ratio: Math.round(r * 100) / 100, color: hex(fg), background: hex(bg)});
    }
  }

  const weakBorders = [];
  for (const el of document.querySelectorAll("fieldset, textarea, input:not([type=hidden]):not([type=checkbox]), select")) {
    if (!visible(el)) continue;
    const style = getComputedStyle(el);
    const border = rgba(style.borderTopColor);
    if (!border || parseFloat(style.borderTopWidth) === 0) continue;
    const bg = behind(el.parentElement);
    const r = ratio(over(border, bg), bg);
    if (r < 3) weakBorders.push({element: el.tagName.toLowerCase(), ratio: Math.round(r * 100) / 100});
  }

  const width = document.documentElement.clientWidth;
  const overflow = [];
  if (document.documentElement.scrollWidth > width) {
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 0.5 && visible(el)) overflow.push(el.tagName.toLowerCase() + ": " + (el.textContent || "").trim().slice(0, 40));
    }
  }

  // What must stay on one line: promo codes, scores, prices.
  const wrapped = [];
  for (const el of document.querySelectorAll(".jf-code, .jf-score, .scores a")) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    const r = el.getBoundingClientRect();
    const parent = el.parentElement.getBoundingClientRect();
    if (lines.size > 1 || el.scrollWidth > el.clientWidth + 1 || r.right > parent.right + 1) wrapped.push(el.textContent.trim());
  }

  const pick = (selector) => [...document.querySelectorAll(selector)].filter(visible).map((el) => ({
    text: el.textContent.trim(), href: el.getAttribute("href"), box: box(el),
    current: el.hasAttribute("aria-current"),
    background: hex(behind(el)), color: hex(over(rgba(getComputedStyle(el).color), behind(el))),
  }));
  const pre = document.body.firstElementChild;
  return {
    width, scrollWidth: document.documentElement.scrollWidth, overflow: overflow.slice(0, 5),
    lowContrast, weakBorders, wrapped,
    bodyBackground: hex(behind(document.body)), bodyLuminance: lum(behind(document.body)),
    scores: pick(".jf-score, .scores a"), labels: pick(".scale span, .jf-scale td"),
    links: [...document.querySelectorAll("a")].map((a) => ({text: a.textContent.trim(), href: a.getAttribute("href")})),
    images: [...document.querySelectorAll("img")].map((i) => ({alt: i.alt, width: i.getAttribute("width"), height: i.getAttribute("height")})),
    forms: document.querySelectorAll("form").length,
    buttons: [...document.querySelectorAll("button, .jf-btn-link")].map((b) => b.textContent.trim()),
    preheader: pre && !visible(pre) ? pre.textContent : null,
    text: document.body.innerText,
  };
})()
