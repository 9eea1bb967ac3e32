// Self-made SVG charts (no browser, no dependency): grouped horizontal bars
// of CPU seconds per GB, and a small panel per scale level.

const COLORS = {
  'rtmp-ingest': '#1f77b4',
  'ffmpeg-cli': '#7f7f7f',
  'node-media-server': '#2ca02c',
  'ffmpeg-pipe': '#ff7f0e',
  'node-av': '#9467bd',
};
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** groups: [{ label, bars: [{ id, label, value, note? }] }] */
export function barChart({ title, subtitle, unit, groups }) {
  const left = 250;
  const right = 210;
  const width = 980;
  const barH = 16;
  const gap = 4;
  const groupGap = 26;
  const top = 64;
  const plotW = width - left - right;
  const max = Math.max(1e-9, ...groups.flatMap((g) => g.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))));
  const niceMax = niceCeil(max);
  let y = top;
  const parts = [];
  for (const g of groups) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g.label)}</text>`);
    y += 20;
    for (const b of g.bars) {
      const ok = Number.isFinite(b.value);
      const w = ok ? (b.value / niceMax) * plotW : 0;
      parts.push(`<text x="${left - 8}" y="${y + barH - 4}" text-anchor="end">${esc(b.label)}</text>`);
      if (ok) parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.id] ?? '#444'}"/>`);
      parts.push(
        `<text x="${left + w + 6}" y="${y + barH - 4}">${ok ? esc(fmt(b.value)) : 'n/a'}${b.note ? ` ${esc(b.note)}` : ''}</text>`,
      );
      y += barH + gap;
    }
    y += groupGap;
  }
  const axisY = y - groupGap + 6;
  const ticks = [];
  for (let i = 0; i <= 4; i++) {
    const v = (niceMax * i) / 4;
    const x = left + (plotW * i) / 4;
    ticks.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${axisY}" stroke="#ddd"/>`);
    ticks.push(`<text x="${x}" y="${axisY + 14}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
  }
  const height = axisY + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>
<text x="10" y="42" fill="#555">${esc(subtitle ?? '')}</text>
${ticks.join('\n')}
${parts.join('\n')}
<text x="${left + plotW / 2}" y="${axisY + 32}" text-anchor="middle" fill="#555">${esc(unit)}</text>
</svg>
`;
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (!Number.isFinite(v)) return 'n/a';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}
