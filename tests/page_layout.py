"""What a person sees in a rendered page, measured in the page itself: the layout faults of figures,
tables and printed text (shared by the JupyterLab test and the figure tests).

A fault is one line of text naming the figure and what is wrong:

* two pieces of text overlap (titles, axis titles and ticks, panel titles, annotations, legend
  entries, colour bars, numbers in cells), compared by their bounding boxes on the screen;
* text smaller than :data:`MIN_TEXT_PX` (the font size as drawn, after SVG scaling);
* a matrix of :data:`BIG_MATRIX` classes or more narrower than :data:`MIN_MATRIX_PX`;
* a figure wider than its output area, or a picture shrunk below its own size (its text with it);
* a line of printed output, a table cell or a paragraph that breaks inside a word (a line may end
  after a space, a dash, a slash, a comma, a semicolon or a colon, or before an opening bracket).

:func:`box_faults` adds the faults of an HTML page (the documentation site): a table column or a
line of printed output that only scrolling shows, HTML text under :data:`MIN_TEXT_PX`, and table
cells whose text runs together.
"""

from __future__ import annotations

#: The smallest text a figure may show, in CSS pixels.
MIN_TEXT_PX = 10
#: Matrices with at least this many rows are class-relation matrices ...
BIG_MATRIX = 100
#: ... and get at least this many pixels of width.
MIN_MATRIX_PX = 250

# One function, run in the page: every fault under the elements matched by `root` (a CSS selector).
FAULTS_JS = r"""([root, minText, bigMatrix, minMatrix, maxChars]) => {
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
    let budget = maxChars;
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
        // A line may end after a space, a dash, a slash or a separator, or before an opening bracket.
        const wordGoesOn = /[^\s({\[]/.test(text[i]) && /[^\s\-\/,;:]/.test(text[i - 1] || ' ');
        if (lastTop !== null && top > lastTop + 2 && wordGoesOn) {
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


def layout_faults(page, root: str = ".jp-OutputArea", max_chars: int = 60_000) -> list[str]:
    """Every layout fault under the elements ``root`` selects in a Playwright ``page`` (the word-break
    check reads the first ``max_chars`` characters of text under each)."""
    return page.evaluate(FAULTS_JS, [root, MIN_TEXT_PX, BIG_MATRIX, MIN_MATRIX_PX, max_chars])


# The faults of a page of HTML (the documentation site), beyond those above: run in the page.
# * a table column or a line of printed output outside the box that shows it, so that it can only be
#   read by scrolling the box (or the page) sideways;
# * HTML text smaller than `minText` px;
# * two table cells whose text touches (headers that run together).
BOX_FAULTS_JS = r"""([root, minText]) => {
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
  // The right edge of what can be seen of `e` without scrolling: the viewport, narrowed by every
  // box above it that clips or scrolls its overflow.
  const viewRight = (e) => {
    let right = document.documentElement.clientWidth;
    for (let n = e.parentElement; n && n !== document.documentElement; n = n.parentElement) {
      if (getComputedStyle(n).overflowX !== 'visible') {
        const r = n.getBoundingClientRect();
        right = Math.min(right, r.left + n.clientLeft + n.clientWidth);
      }
    }
    return right;
  };
  const words = (s, n) => s.replace(/\s+/g, ' ').trim().slice(0, n);
  const textRect = (cell) => {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const rects = Array.from(range.getClientRects()).filter(r => r.width > 0.5);
    if (!rects.length) return null;
    return {l: Math.min(...rects.map(r => r.left)), r: Math.max(...rects.map(r => r.right)),
            t: Math.min(...rects.map(r => r.top)), b: Math.max(...rects.map(r => r.bottom))};
  };
  document.querySelectorAll(root).forEach((area) => {
    // ── tables: every column in view ──
    area.querySelectorAll('table').forEach((table, i) => {
      if (!visible(table) || table.closest('svg')) return;
      const right = viewRight(table);
      const head = words(table.rows[0] ? table.rows[0].innerText : '', 50);
      const name = `table ${i} ("${head}")`;
      let hidden = 0;
      for (const row of Array.from(table.rows)) {
        for (const cell of Array.from(row.cells)) {
          const r = cell.getBoundingClientRect();
          if (r.right > right + 1 && hidden < 3) {
            const header = table.rows[0].cells[cell.cellIndex] || cell;
            faults.push(`${name}: column "${words(header.innerText, 40)}" ends at x = ${r.right.toFixed(0)}, `
              + `past the ${right.toFixed(0)} px its box shows (the table scrolls)`);
            hidden++;
          }
        }
        if (hidden) break;
      }
      // ── cells whose text touches the next cell's: headers that run together ──
      for (const row of Array.from(table.rows).slice(0, 2)) {
        const cells = Array.from(row.cells).map(textRect);
        for (let k = 1; k < cells.length; k++) {
          const a = cells[k - 1], b = cells[k];
          if (a && b && a.t < b.b && b.t < a.b && b.l - a.r < 4) {
            const [first, second] = [words(row.cells[k - 1].innerText, 20), words(row.cells[k].innerText, 20)];
            faults.push(`${name}: "${first}" and "${second}" run together (${(b.l - a.r).toFixed(1)} px apart)`);
            break;
          }
        }
      }
    });
    // ── printed output (a notebook's): every line in view ──
    area.querySelectorAll('.jp-OutputArea-output pre').forEach((pre, i) => {
      if (!visible(pre)) return;
      if (pre.scrollWidth > pre.clientWidth + 1 || pre.getBoundingClientRect().right > viewRight(pre) + 1)
        faults.push(`printed output ${i} ("${words(pre.innerText, 40)}"): ${pre.scrollWidth} px of text in a `
          + `${pre.clientWidth} px box (it scrolls)`);
    });
    // ── text size: every piece of HTML text at least minText px ──
    const walker = document.createTreeWalker(area, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || seen.has(parent) || !node.textContent.trim()) continue;
      seen.add(parent);
      if (parent.closest('svg, script, style, noscript') || !visible(parent)) continue;
      const px = parseFloat(getComputedStyle(parent).fontSize);
      if (px < minText - 0.01)
        faults.push(`text "${words(node.textContent, 30)}" is ${px.toFixed(1)} px (< ${minText})`);
    }
  });
  return faults;
}"""


def box_faults(page, root: str = "body") -> list[str]:
    """The faults of :data:`BOX_FAULTS_JS` under the elements ``root`` selects in a Playwright ``page``:
    tables and printed output that scroll, text smaller than :data:`MIN_TEXT_PX`, cells run together."""
    return page.evaluate(BOX_FAULTS_JS, [root, MIN_TEXT_PX])
