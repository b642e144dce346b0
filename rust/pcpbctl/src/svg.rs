// SPDX-License-Identifier: GPL-2.0

//! Hand-written SVG: a small document builder and the three kinds of chart the report uses
//! (grouped bars, lines, a block map). No scripts, no external fonts: the files render the same
//! in a browser, on GitHub and in an image viewer.

use std::fmt::Write;

/// Escapes text for SVG content and attributes.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG document being built.
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    pub fn new(width: f64, height: f64) -> Self {
        let mut svg = Svg {
            width,
            height,
            body: String::new(),
        };
        svg.rect(0.0, 0.0, width, height, "white", None);
        svg
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke
            .map(|s| format!(r#" stroke="{s}" stroke-width="1""#))
            .unwrap_or_default();
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"{stroke}/>"#
        );
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// Text; `anchor` is `start`, `middle` or `end`; `rotate` in degrees around (x, y).
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, rotate: f64, content: &str) {
        let transform = if rotate != 0.0 {
            format!(r#" transform="rotate({rotate} {x:.1} {y:.1})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}"{transform}>{}</text>"#,
            esc(content)
        );
    }

    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64, dashed: bool) {
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="{width}"{dash}/>"#,
            pts.join(" ")
        );
    }

    pub fn circle(&mut self, x: f64, y: f64, r: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{fill}"/>"#
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height
        )
    }
}

/// A value axis: maps values to pixels between `top` and `bottom`.
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    top: f64,
    bottom: f64,
}

impl Axis {
    /// A log axis over whole decades covering `values` (positive values only), or a linear axis
    /// from 0 (or `lo`) to a rounded maximum.
    fn new(values: &[f64], log: bool, fixed: Option<(f64, f64)>, top: f64, bottom: f64) -> Axis {
        let (lo, hi) = if let Some(range) = fixed {
            range
        } else if log {
            let pos: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
            let min = pos.iter().copied().fold(f64::INFINITY, f64::min);
            let max = pos.iter().copied().fold(0.0, f64::max);
            if pos.is_empty() {
                (1.0, 10.0)
            } else {
                let lo = 10f64.powf(min.log10().floor());
                let mut hi = 10f64.powf(max.log10().ceil());
                if hi <= lo {
                    hi = lo * 10.0;
                }
                (lo, hi)
            }
        } else {
            let max = values.iter().copied().fold(0.0, f64::max);
            let step = nice_step(if max > 0.0 { max } else { 1.0 } / 5.0);
            (0.0, (max / step).ceil().max(1.0) * step)
        };
        Axis {
            lo,
            hi,
            log,
            top,
            bottom,
        }
    }

    fn y(&self, v: f64) -> f64 {
        let t = if self.log {
            let v = v.max(self.lo);
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.bottom - t.clamp(0.0, 1.0) * (self.bottom - self.top)
    }

    /// (value, label, major) for the grid lines.
    fn ticks(&self) -> Vec<(f64, String, bool)> {
        let mut ticks = Vec::new();
        if self.log {
            let mut decade = self.lo;
            while decade <= self.hi * 1.0001 {
                ticks.push((decade, number(decade), true));
                for k in 2..10 {
                    let v = decade * k as f64;
                    if v < self.hi && (k == 2 || k == 5) {
                        ticks.push((v, number(v), false));
                    } else if v < self.hi {
                        ticks.push((v, String::new(), false));
                    }
                }
                decade *= 10.0;
            }
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0);
            let mut v = self.lo;
            while v <= self.hi + step * 0.001 {
                ticks.push((v, number(v), true));
                v += step;
            }
        }
        ticks
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * p)
}

/// A tick label: `0.5`, `20`, `1000`, `1e6`.
fn number(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v >= 1e6 {
        format!("{:.0e}", v)
    } else if v >= 1.0 && v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One named series with its colour.
pub struct Series {
    pub name: String,
    pub color: String,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A legend: a key and a name per item, `(name, colour, dashed)`; `lines` draws line keys (solid
/// or dashed) instead of boxes.
fn legend(svg: &mut Svg, x: f64, y: f64, items: &[(String, String, bool)], lines: bool) {
    for (i, (name, color, dashed)) in items.iter().enumerate() {
        let yy = y + i as f64 * 16.0;
        if lines {
            svg.polyline(&[(x, yy - 4.0), (x + 18.0, yy - 4.0)], color, 2.0, *dashed);
        } else {
            svg.rect(x, yy - 10.0, 18.0, 10.0, color, None);
        }
        svg.text(x + 24.0, yy, 12.0, "start", 0.0, name);
    }
}

const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;
const PLOT_H: f64 = 260.0;

/// Grouped bars: one group per label, one bar per series; `values[group][series]`, `None` for a
/// missing bar. A log scale when `log`, with the scale named on the y axis.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, String)],
    values: &[Vec<Option<f64>>],
    log: bool,
) -> String {
    let bar_w = 14.0;
    let gap = 22.0;
    let group_w = series.len().max(1) as f64 * bar_w + gap;
    let legend_w = 150.0;
    let width = LEFT + groups.len().max(1) as f64 * group_w + legend_w;
    let height = TOP + PLOT_H + 30.0;
    let bottom = TOP + PLOT_H;
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let axis = Axis::new(&all, log, None, TOP, bottom);
    let mut svg = Svg::new(width, height);
    svg.text(LEFT, 22.0, 15.0, "start", 0.0, title);
    let right = width - legend_w;
    draw_y_axis(&mut svg, &axis, right, y_label, log);
    for (g, label) in groups.iter().enumerate() {
        let x0 = LEFT + gap / 2.0 + g as f64 * group_w;
        for (s, (_, color)) in series.iter().enumerate() {
            let value = values.get(g).and_then(|row| row.get(s)).copied().flatten();
            if let Some(v) = value.filter(|v| !log || *v > 0.0) {
                let y = axis.y(v);
                svg.rect(
                    x0 + s as f64 * bar_w,
                    y,
                    bar_w - 2.0,
                    bottom - y,
                    color,
                    None,
                );
            }
        }
        let cx = x0 + (group_w - gap) / 2.0;
        svg.text(cx, bottom + 16.0, 11.0, "middle", 0.0, label);
    }
    svg.line(LEFT, bottom, right, bottom, "black", 1.0);
    svg.line(LEFT, TOP, LEFT, bottom, "black", 1.0);
    let items: Vec<(String, String, bool)> = series
        .iter()
        .map(|(n, c)| (n.clone(), c.clone(), false))
        .collect();
    legend(&mut svg, right + 16.0, TOP + 10.0, &items, false);
    svg.finish()
}

/// Lines with dots at the points; `y_range` fixes the y axis (else it fits the data, from 0, or
/// over decades when `log`).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
    log: bool,
) -> String {
    let plot_w = 480.0;
    let legend_w = 270.0;
    let width = LEFT + plot_w + legend_w;
    let height = TOP + PLOT_H + 60.0;
    let bottom = TOP + PLOT_H;
    let right = LEFT + plot_w;
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    // The x axis runs from 0 to a rounded maximum; whole-number data (counts) gets whole-number
    // ticks and one more unit of room, so that the last point is not on the edge.
    let integer_x = xs.iter().all(|x| x.fract() == 0.0);
    let x_max = xs.iter().copied().fold(0.0, f64::max);
    let x_hi = if integer_x {
        x_max + 1.0
    } else {
        Axis::new(&xs, false, None, 0.0, 1.0).hi
    };
    let px = |x: f64| LEFT + x / x_hi * plot_w;
    let axis = Axis::new(&ys, log, y_range, TOP, bottom);
    let mut svg = Svg::new(width, height);
    svg.text(LEFT, 22.0, 15.0, "start", 0.0, title);
    draw_y_axis(&mut svg, &axis, right, y_label, log);
    let mut step = nice_step(x_hi / 5.0);
    if integer_x {
        step = step.max(1.0);
    }
    let mut x = 0.0;
    while x <= x_hi + step * 0.001 {
        svg.line(px(x), bottom, px(x), bottom + 4.0, "black", 1.0);
        svg.text(px(x), bottom + 16.0, 11.0, "middle", 0.0, &number(x));
        x += step;
    }
    svg.line(LEFT, bottom, right, bottom, "black", 1.0);
    svg.line(LEFT, TOP, LEFT, bottom, "black", 1.0);
    svg.text(
        (LEFT + right) / 2.0,
        bottom + 36.0,
        12.0,
        "middle",
        0.0,
        x_label,
    );
    for s in series {
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (px(x), axis.y(y))).collect();
        svg.polyline(&pts, &s.color, 2.0, s.dashed);
        for &(x, y) in &pts {
            svg.circle(x, y, 2.5, &s.color);
        }
    }
    let items: Vec<(String, String, bool)> = series
        .iter()
        .map(|s| (s.name.clone(), s.color.clone(), s.dashed))
        .collect();
    legend(&mut svg, right + 16.0, TOP + 10.0, &items, true);
    svg.finish()
}

/// One square of a block map.
pub struct Cell {
    pub state: String,
    pub label: String,
    /// The owning CPU: its shade replaces the state's colour.
    pub owner: Option<u32>,
}

/// The colour of a block owned by `cpu`: a shade of the `owned` blue per CPU (eight, then
/// again), light enough for the number on it.
pub fn owner_color(cpu: u32) -> &'static str {
    const SHADES: [&str; 8] = [
        "#6baed6", "#c6dbef", "#4292c6", "#9ecae1", "#74a9cf", "#d0d1e6", "#3690c0", "#a6bddb",
    ];
    SHADES[cpu as usize % SHADES.len()]
}

/// The colour of a block state.
pub fn state_color(state: &str) -> &'static str {
    match state {
        "free" => "#d9f0d3",
        "owned" => "#6baed6",
        "fragment" => "#fd8d3c",
        "shared" => "#bc80bd",
        _ => "#cccccc",
    }
}

/// A block map panel: caption lines above a grid of cells.
pub struct Panel {
    pub caption: Vec<String>,
    pub cells: Vec<Cell>,
}

/// Roughly the width of `text` at `size` px in a sans-serif font (an average glyph is about
/// 0.6 em): enough to size the picture so that no caption is clipped.
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// Block maps: a row of panels side by side per row title, each a square per block in index
/// order coloured by state, with the label (the owner CPU) inside.
pub fn block_map(title: &str, rows: &[(String, Vec<Panel>)]) -> String {
    let most = rows
        .iter()
        .flat_map(|(_, panels)| panels.iter().map(|p| p.cells.len()))
        .max()
        .unwrap_or(0);
    // 16 to a row keeps two panels of up to 256 blocks side by side in a page's width.
    let per_row = if most <= 256 { 16 } else { 32 };
    let cell = 20.0;
    let gap = 40.0;
    let margin = 20.0;
    let grid_h = |cells: &[Cell]| cells.len().div_ceil(per_row).max(1) as f64 * cell;
    let caption_h = |p: &Panel| p.caption.len() as f64 * 15.0 + 6.0;
    // Each panel is as wide as its grid or its longest caption line.
    let panel_w = |p: &Panel| {
        p.caption
            .iter()
            .map(|l| text_width(l, 12.0))
            .fold(per_row as f64 * cell, f64::max)
    };
    let mut width = margin + text_width(title, 15.0) + margin;
    let mut height = 44.0;
    for (name, panels) in rows {
        let w: f64 = panels.iter().map(|p| panel_w(p) + gap).sum::<f64>() - gap;
        width = width.max(margin + w.max(text_width(name, 13.0)) + margin);
        let h = panels
            .iter()
            .map(|p| caption_h(p) + grid_h(&p.cells))
            .fold(0.0, f64::max);
        height += 22.0 + h + 18.0;
    }
    let legend = ["free", "owned", "fragment", "shared"];
    let legend_note = "(number and shade of blue: owner CPU)";
    width = width.max(margin + legend.len() as f64 * 100.0 + text_width(legend_note, 12.0));
    height += 24.0;
    let mut svg = Svg::new(width.ceil(), height.ceil());
    svg.text(margin, 24.0, 15.0, "start", 0.0, title);
    let mut y = 44.0;
    for (name, panels) in rows {
        svg.text(margin, y + 14.0, 13.0, "start", 0.0, name);
        y += 22.0;
        let mut x0 = margin;
        let mut row_h: f64 = 0.0;
        for panel in panels {
            for (i, line) in panel.caption.iter().enumerate() {
                svg.text(x0, y + 12.0 + i as f64 * 15.0, 12.0, "start", 0.0, line);
            }
            let top = y + caption_h(panel);
            for (i, c) in panel.cells.iter().enumerate() {
                let x = x0 + (i % per_row) as f64 * cell;
                let yy = top + (i / per_row) as f64 * cell;
                svg.rect(
                    x,
                    yy,
                    cell - 2.0,
                    cell - 2.0,
                    c.owner.map_or_else(|| state_color(&c.state), owner_color),
                    Some("#888888"),
                );
                if !c.label.is_empty() {
                    svg.text(
                        x + (cell - 2.0) / 2.0,
                        yy + 13.5,
                        10.0,
                        "middle",
                        0.0,
                        &c.label,
                    );
                }
            }
            row_h = row_h.max(caption_h(panel) + grid_h(&panel.cells));
            x0 += panel_w(panel) + gap;
        }
        y += row_h + 18.0;
    }
    let mut x = margin;
    for state in legend {
        svg.rect(x, y, 14.0, 14.0, state_color(state), Some("#888888"));
        svg.text(x + 20.0, y + 12.0, 12.0, "start", 0.0, state);
        x += 100.0;
    }
    svg.text(x, y + 12.0, 12.0, "start", 0.0, legend_note);
    svg.finish()
}

/// The y axis: horizontal grid lines and tick labels from `LEFT` to `right`, and its title.
fn draw_y_axis(svg: &mut Svg, axis: &Axis, right: f64, y_label: &str, log: bool) {
    let scale = if log { " (log scale)" } else { "" };
    svg.text(
        16.0,
        TOP + PLOT_H / 2.0,
        12.0,
        "middle",
        -90.0,
        &format!("{y_label}{scale}"),
    );
    for (v, label, major) in axis.ticks() {
        let y = axis.y(v);
        svg.line(
            LEFT,
            y,
            right,
            y,
            if major { "#bbbbbb" } else { "#eeeeee" },
            1.0,
        );
        if !label.is_empty() {
            svg.text(LEFT - 6.0, y + 4.0, 11.0, "end", 0.0, &label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg xmlns="));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Every element opened on a line is closed on it.
        for line in svg.lines().skip(1) {
            if line.starts_with("</svg>") {
                continue;
            }
            assert!(line.ends_with("/>") || line.ends_with("</text>"), "{line}");
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn axes() {
        let a = Axis::new(&[3.0, 450.0], true, None, 0.0, 100.0);
        assert_eq!((a.lo, a.hi), (1.0, 1000.0));
        assert_eq!(a.y(1.0), 100.0);
        assert_eq!(a.y(1000.0), 0.0);
        let l = Axis::new(&[0.0, 7.3], false, None, 0.0, 100.0);
        assert_eq!((l.lo, l.hi), (0.0, 8.0));
        assert_eq!(nice_step(0.17), 0.2);
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1000.0), "1000");
    }

    #[test]
    fn charts_are_well_formed() {
        let series = vec![
            ("pool".to_string(), "#123456".to_string()),
            ("kernel".into(), "#654321".into()),
        ];
        let bars = bar_chart(
            "t <1>",
            "ns/op",
            &["repeat o0".into(), "bulk o9".into()],
            &series,
            &[vec![Some(10.0), Some(100.0)], vec![None, Some(0.0)]],
            true,
        );
        well_formed(&bars);
        assert_eq!(bars.matches("<rect").count(), 1 + 2 + 2); // background, 2 bars, 2 legend keys
        assert!(bars.contains("t &lt;1&gt;"));
        let lines = line_chart(
            "remote",
            "alloc CPUs",
            "ns/op",
            &[Series {
                name: "pool".into(),
                color: "#123456".into(),
                dashed: true,
                points: vec![(1.0, 50.0), (2.0, 70.0), (3.0, 90.0)],
            }],
            None,
            false,
        );
        well_formed(&lines);
        assert_eq!(lines.matches("<circle").count(), 3);
        let empty = line_chart("empty", "x", "y", &[], Some((0.0, 1.0)), false);
        well_formed(&empty);
        let panel = || Panel {
            caption: vec![
                "a caption much longer than the grid is wide, which must not be clipped".into(),
            ],
            cells: (0..40)
                .map(|i| Cell {
                    state: if i % 2 == 0 {
                        "owned".into()
                    } else {
                        "free".into()
                    },
                    label: if i % 2 == 0 {
                        "1".into()
                    } else {
                        String::new()
                    },
                    owner: (i % 2 == 0).then_some(1),
                })
                .collect(),
        };
        let map = block_map("blocks", &[("pool".into(), vec![panel(), panel()])]);
        well_formed(&map);
        assert_eq!(map.matches("<rect").count(), 1 + 2 * 40 + 4);
        let width: f64 = map.split('"').nth(3).unwrap().parse().unwrap();
        assert!(width >= 20.0 + 2.0 * text_width(&panel().caption[0], 12.0) + 40.0);
    }
}
