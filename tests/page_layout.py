"""What a person sees in a rendered page, measured in the page itself: the layout faults of figures,
tables and printed text (shared by the JupyterLab test and the figure tests).

A fault is one line of text naming the figure and what is wrong:

* two pieces of text overlap (titles, axis titles and ticks, panel titles, annotations, legend
  entries, colour bars, numbers in cells), compared by their bounding boxes on the screen;
* text smaller than :data:`MIN_TEXT_PX` (the font size as drawn, after SVG scaling);
* a matrix of :data:`BIG_MATRIX` classes or more narrower than :data:`MIN_MATRIX_PX`;
* a figure wider than its output area, or a picture shrunk below its own size (its text with it);
* a line of printed output, a table cell or a paragraph that breaks inside a word.
"""

from __future__ import annotations

#: The smallest text a figure may show, in CSS pixels.
MIN_TEXT_PX = 10
#: Matrices with at least this many rows are class-relation matrices ...
BIG_MATRIX = 100
#: ... and get at least this many pixels of width.
MIN_MATRIX_PX = 250

# One function, run in the page: every fault under the elements matched by `root` (a CSS selector).
FAULTS_JS = r"""([root, minText, bigMatrix, minMatrix]) => {
  const faults = [];
  const visible = (e) => {
    const r = e.getBoundingClientRect();
    if (r.width < 0.5 || r.height < 0.5) return false;
    for (let n = e; n && n.nodeType === 1; n = n.parentNode) {
      const s = getComputedStyle(n);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
    }
    return true;
  };
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
  const overlap = (a, b) => a.l < b.r - 1 && b.l < a.r - 1 && a.t < b.b - 1 && b.t < a.b - 1;
  const scaleOf = (e) => { const m = e.getScreenCTM && e.getScreenCTM(); return m ? Math.hypot(m.a, m.b) : 1; };
  const roots = Array.from(document.querySelectorAll(root));
  roots.forEach((area, areaIndex) => {
    // ── plotly figures ──
    area.querySelectorAll('.js-plotly-plot').forEach((plot, plotIndex) => {
      const titleEl = plot.querySelector('.gtitle');
      const name = `figure ${areaIndex}.${plotIndex} "${titleEl ? titleEl.textContent.slice(0, 60) : ''}"`;
      const own = plot.getBoundingClientRect();
      const output = (plot.closest('.jp-OutputArea-output') || plot.closest('.jp-OutputArea') || plot.parentElement)
        .getBoundingClientRect();
      if (own.width > output.width + 1)
        faults.push(`${name}: ${own.width.toFixed(0)} px wide in a ${output.width.toFixed(0)} px output area`);
      const texts = Array.from(plot.querySelectorAll('svg text')).filter(t => t.textContent.trim() && visible(t));
      for (const t of texts) {
        const px = parseFloat(getComputedStyle(t).fontSize) * scaleOf(t);
        if (px < minText - 0.01)
          faults.push(`${name}: text "${t.textContent.slice(0, 30)}" is ${px.toFixed(1)} px (< ${minText})`);
      }
      const boxes = texts.map(t => ({...box(t), text: t.textContent.slice(0, 40)}));
      let clashes = 0;
      for (let i = 0; i < boxes.length && clashes < 5; i++)
        for (let j = i + 1; j < boxes.length && clashes < 5; j++)
          if (overlap(boxes[i], boxes[j])) {
            faults.push(`${name}: "${boxes[i].text}" overlaps "${boxes[j].text}"`);
            clashes++;
          }
      // Heatmaps of many classes: the drawn image's width.
      const images = Array.from(plot.querySelectorAll('.hm image'));
      let k = 0;
      (plot.calcdata || []).forEach((cd) => {
        if (!cd[0] || cd[0].trace.type !== 'heatmap') return;
        const image = images[k++];
        const rows = cd[0].z ? cd[0].z.length : 0;
        if (rows >= bigMatrix && image) {
          const w = image.getBoundingClientRect().width;
          if (w < minMatrix) faults.push(`${name}: a ${rows}-class matrix is ${w.toFixed(0)} px wide (< ${minMatrix})`);
        }
      });
    });
    // ── pictures (matplotlib PNGs): shown at their own size, so their text keeps its size ──
    area.querySelectorAll('.jp-OutputArea-output img, .jp-RenderedImage img').forEach((img, i) => {
      if (!img.naturalWidth) return;
      const shown = img.getBoundingClientRect().width;
      if (shown < img.naturalWidth * 0.98)
        faults.push(`picture ${areaIndex}.${i}: shrunk to ${shown.toFixed(0)} of ${img.naturalWidth} px`);
    });
    // ── text: printed output, tables, markdown: no line break inside a word ──
    const walker = document.createTreeWalker(area, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let budget = 60000;
    for (let node = walker.nextNode(); node && budget > 0; node = walker.nextNode()) {
      const parent = node.parentElement;
      const skip = 'svg, .jp-InputArea, .widget-readout, .widget-label, script, style';
      if (!parent || parent.closest(skip) || !visible(parent)) continue;
      const text = node.textContent;
      let lastTop = null;
      for (let i = 0; i < text.length && budget > 0; i++, budget--) {
        range.setStart(node, i); range.setEnd(node, i + 1);
        const rects = range.getClientRects();
        if (!rects.length) continue;
        const top = rects[0].top;
        if (lastTop !== null && top > lastTop + 2 && /\S/.test(text[i]) && /[^\s\-\/,;:]/.test(text[i - 1] || ' ')) {
          const start = Math.max(0, i - 20);
          faults.push(`text breaks a word: "${text.slice(start, i)}|${text.slice(i, i + 20)}"`);
          break;
        }
        if (text[i] !== '\n') lastTop = top; else lastTop = null;
      }
    }
  });
  return faults;
}"""


def layout_faults(page, root: str = ".jp-OutputArea") -> list[str]:
    """Every layout fault under the elements ``root`` selects in a Playwright ``page``."""
    return page.evaluate(FAULTS_JS, [root, MIN_TEXT_PX, BIG_MATRIX, MIN_MATRIX_PX])
