// SPDX-License-Identifier: GPL-2.0

//! The report's SVG charts: grouped bars and lines drawn by `plotters`, and the block map.
//!
//! `plotters`' SVG backend writes text as `<text>` elements in the viewer's sans-serif (the
//! crate's `ttf` feature, which would read font files to measure text, stays off): the files
//! render the same in a browser, on GitHub and in an image viewer, with no scripts and no fonts.
//!
//! The block map stays hand-written (`Svg`, a tiny document builder): it is a grid of labelled
//! squares with captions, no axes, no scales, no series; in a chart crate it would be the same
//! rectangles and texts placed by the same arithmetic, plus a coordinate system to undo.

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt::Write;
use std::ops::Range;

pub use plotters::style::RGBColor;

/// Escapes text for SVG content and attributes.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A hand-written SVG document being built (the block map's).
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

    /// Text; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, content: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}">{}</text>"#,
            esc(content)
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

/// The value range of an axis over `values`: whole decades covering the positive values when
/// `log`, else from 0 to a rounded maximum.
fn value_range(values: &[f64], log: bool) -> (f64, f64) {
    if log {
        let pos = values.iter().copied().filter(|v| *v > 0.0);
        let min = pos.clone().fold(f64::INFINITY, f64::min);
        let max = pos.fold(0.0, f64::max);
        if max == 0.0 {
            return (1.0, 10.0);
        }
        let lo = 10f64.powf(min.log10().floor());
        let hi = 10f64.powf(max.log10().ceil());
        (lo, if hi <= lo { lo * 10.0 } else { hi })
    } else {
        let max = values.iter().copied().fold(0.0, f64::max);
        let step = nice_step(if max > 0.0 { max } else { 1.0 } / 5.0);
        (0.0, (max / step).ceil().max(1.0) * step)
    }
}

/// The grid of an axis from `lo` to `hi`: (labelled values, unlabelled values). Over decades:
/// each decade and its 2 and 5 labelled, the other multiples unlabelled; linear: a tick per
/// 1, 2 or 5 times a power of ten, at least `min_step`.
fn ticks(lo: f64, hi: f64, log: bool, min_step: f64) -> (Vec<f64>, Vec<f64>) {
    let (mut major, mut minor) = (Vec::new(), Vec::new());
    if log {
        let mut decade = lo;
        while decade <= hi * 1.0001 {
            major.push(decade);
            for k in 2..10 {
                let v = decade * k as f64;
                if v >= hi {
                    break;
                }
                if k == 2 || k == 5 {
                    major.push(v);
                } else {
                    minor.push(v);
                }
            }
            decade *= 10.0;
        }
    } else {
        let step = nice_step((hi - lo) / 5.0).max(min_step);
        let mut v = lo;
        while v <= hi + step * 0.001 {
            major.push(v);
            v += step;
        }
    }
    (major, minor)
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
    pub color: RGBColor,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// A sans-serif font of `px` pixels. `plotters` writes `font-size` as the size it is given over
/// 1.24 (its ratio of line height to em), so the size asked for is scaled up by that.
fn font(px: f64) -> TextStyle<'static> {
    ("sans-serif", px * 1.24).into_font().into()
}

/// The width of the legend column right of the plot.
const BAR_LEGEND_W: u32 = 150;
const LINE_LEGEND_W: u32 = 270;
/// The plot's height; above it the title, below it the x labels.
const PLOT_H: u32 = 260;
const TOP: u32 = 40;
/// Room left of the plot for the y labels and the y axis' title.
const LEFT: u32 = 70;

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawError = DrawingAreaErrorKind<std::io::Error>;
type DrawResult = Result<(), DrawError>;

/// Draws an SVG of `width` x `height` pixels on a white background: `draw` gets the chart's
/// area and the legend's column of `legend_w` pixels right of it.
fn svg_of(
    (width, height): (u32, u32),
    legend_w: u32,
    draw: impl FnOnce(&Area, &Area) -> DrawResult,
) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        let (chart, side) = root.split_horizontally(width - legend_w);
        // Drawing into a string does not fail: the backend writes to memory, and the font
        // estimate that `plotters` uses for layout without `ttf` returns no error.
        root.fill(&WHITE)
            .and_then(|_| draw(&chart, &side))
            .and_then(|_| root.present())
            .expect("an SVG drawn into a string");
    }
    out
}

/// The colours of the grid: a line per labelled value (per decade on a log axis, darker), and a
/// fainter one per unlabelled value.
const GRID: RGBColor = RGBColor(0xbb, 0xbb, 0xbb);
const GRID_LABELLED: RGBColor = RGBColor(0xe2, 0xe2, 0xe2);
const GRID_FAINT: RGBColor = RGBColor(0xf2, 0xf2, 0xf2);

/// An axis for `plotters`: the value range, linear or over decades, with its grid values.
///
/// Its own type rather than `plotters`' `(lo..hi).log_scale().with_key_points(..)`, because the
/// latter's linear variant has no label formatter in plotters 0.3.7 and the two are different
/// types; one type keeps the charts free of generics and the mapping is a line.
///
/// # Invariants
///
/// `lo < hi`; `lo > 0` when `log` (`value_range` gives such ranges; the callers' fixed ranges
/// are linear).
#[derive(Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    /// Labelled grid values, with a line each.
    labelled: Vec<f64>,
    /// Unlabelled grid values, with a faint line each.
    faint: Vec<f64>,
}

impl Axis {
    /// An axis over `lo..hi` with `ticks`' grid.
    fn new((lo, hi): (f64, f64), log: bool, min_step: f64) -> Axis {
        let (labelled, faint) = ticks(lo, hi, log, min_step);
        Axis {
            lo,
            hi,
            log,
            labelled,
            faint,
        }
    }

    /// Where `v` falls between `lo` (0) and `hi` (1), clamped.
    fn fraction(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        t.clamp(0.0, 1.0)
    }
}

impl Ranged for Axis {
    type ValueType = f64;
    type FormatOption = NoDefaultFormatting;

    fn map(&self, v: &f64, (from, to): (i32, i32)) -> i32 {
        (from as f64 + self.fraction(*v) * (to - from) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.faint.clone()
        } else {
            self.labelled.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(v: &f64) -> String {
        number(*v)
    }
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// A chart's frame: the title above, the axes with their grid and titles.
fn frame<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    (x, x_desc): (Axis, Option<&str>),
    (y, y_desc): (Axis, &str),
    x_label: Option<&dyn Fn(&f64) -> String>,
) -> Result<Chart<'a, 'b>, DrawError> {
    let log = y.log;
    // On a log axis the decades, drawn darker than the 2s and 5s between them.
    let decades: Vec<f64> = if log {
        std::iter::successors(Some(y.lo), |d| Some(d * 10.0))
            .take_while(|d| *d <= y.hi * 1.0001)
            .collect()
    } else {
        vec![]
    };
    let x_range = x.range();
    let mut chart = ChartBuilder::on(root)
        .caption(title, font(15.0))
        // The plot from `TOP` to `TOP + PLOT_H`, the x labels below it, then the x axis' title.
        .margin_top(15)
        .margin_left(4)
        .margin_bottom(if x_desc.is_some() { 20 } else { 0 })
        .x_label_area_size(if x_desc.is_some() { 40 } else { 30 })
        .y_label_area_size(LEFT - 4)
        .build_cartesian_2d(x, y)?;
    let scale = if log { " (log scale)" } else { "" };
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .label_style(font(11.0))
        .axis_desc_style(font(12.0))
        .y_desc(format!("{y_desc}{scale}"))
        .bold_line_style(if log { GRID_LABELLED } else { GRID })
        .light_line_style(GRID_FAINT);
    if let Some(desc) = x_desc {
        mesh.x_desc(desc);
    }
    if let Some(f) = x_label {
        mesh.x_label_formatter(f);
    }
    mesh.draw()?;
    chart.draw_series(
        decades.into_iter().map(|d| {
            PathElement::new([(x_range.start, d), (x_range.end, d)], GRID.stroke_width(1))
        }),
    )?;
    Ok(chart)
}

/// A legend entry's key: a box (bars) or a line, solid or dashed.
enum Key {
    Box(RGBColor),
    Line(RGBColor, bool),
}

/// The legend: a key and a name per series, in the column right of the plot (`plotters`' own
/// series labels are drawn inside the plot area, over the data).
fn legend(area: &Area, items: &[(&str, Key)]) -> DrawResult {
    for (i, (name, key)) in items.iter().enumerate() {
        let (x, y) = (16, TOP as i32 + 6 + 16 * i as i32);
        match *key {
            Key::Box(color) => area.draw(&Rectangle::new(
                [(x, y - 5), (x + 18, y + 5)],
                color.filled(),
            ))?,
            Key::Line(color, false) => area.draw(&PathElement::new(
                [(x, y), (x + 18, y)],
                color.stroke_width(2),
            ))?,
            Key::Line(color, true) => area.draw(&DashedPathElement::new(
                [(x, y), (x + 18, y)],
                6,
                4,
                color.stroke_width(2),
            ))?,
        }
        let style = font(12.0).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(*name, (x + 24, y), style))?;
    }
    Ok(())
}

/// Grouped bars: one group per label, one bar per series; `values[group][series]`, `None` for a
/// missing bar. A log scale when `log`, with the scale named on the y axis.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[(String, RGBColor)],
    values: &[Vec<Option<f64>>],
    log: bool,
) -> String {
    // In pixels: a 12 px bar in a 14 px slot per series, 22 px between groups; on the x axis a
    // group is 1.
    let group_w = series.len().max(1) as f64 * 14.0 + 22.0;
    let (bar, slot, gap) = (12.0 / group_w, 14.0 / group_w, 22.0 / group_w);
    let n = groups.len().max(1);
    let all: Vec<f64> = values.iter().flatten().flatten().copied().collect();
    let y = Axis::new(value_range(&all, log), log, 0.0);
    let floor = y.lo;
    let mut x = Axis::new((0.0, n as f64), false, 1.0);
    x.labelled = (0..groups.len()).map(|g| g as f64 + 0.5).collect();
    let label = |x: &f64| groups.get(*x as usize).cloned().unwrap_or_default();
    let width = LEFT + (n as f64 * group_w) as u32 + BAR_LEGEND_W;
    svg_of((width, TOP + PLOT_H + 30), BAR_LEGEND_W, |root, side| {
        let mut chart = frame(root, title, (x, None), (y, y_label), Some(&label))?;
        for (s, (_, color)) in series.iter().enumerate() {
            let bars = values.iter().enumerate().filter_map(|(g, row)| {
                // A log axis has no room for 0: no bar.
                let v = row.get(s).copied().flatten().filter(|v| !log || *v > 0.0)?;
                let x0 = g as f64 + gap / 2.0 + s as f64 * slot;
                Some(Rectangle::new([(x0, floor), (x0 + bar, v)], color.filled()))
            });
            chart.draw_series(bars)?;
        }
        let keys: Vec<(&str, Key)> = series
            .iter()
            .map(|(name, color)| (name.as_str(), Key::Box(*color)))
            .collect();
        legend(side, &keys)
    })
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
    let points = || series.iter().flat_map(|s| s.points.iter());
    let xs: Vec<f64> = points().map(|p| p.0).collect();
    let ys: Vec<f64> = points().map(|p| p.1).collect();
    // The x axis runs from 0 to a rounded maximum; whole-number data (counts) gets whole-number
    // ticks and one more unit of room, so that the last point is not on the edge.
    let integer_x = xs.iter().all(|x| x.fract() == 0.0);
    let x = if integer_x {
        let max = xs.iter().copied().fold(0.0, f64::max);
        Axis::new((0.0, max + 1.0), false, 1.0)
    } else {
        Axis::new(value_range(&xs, false), false, 0.0)
    };
    let y = Axis::new(y_range.unwrap_or_else(|| value_range(&ys, log)), log, 0.0);
    let size = (LEFT + 480 + LINE_LEGEND_W, TOP + PLOT_H + 60);
    svg_of(size, LINE_LEGEND_W, |root, side| {
        let mut chart = frame(root, title, (x, Some(x_label)), (y, y_label), None)?;
        for s in series {
            let style = s.color.stroke_width(2);
            let pts = s.points.iter().copied();
            if s.dashed {
                chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))?;
            } else {
                chart.draw_series(LineSeries::new(pts, style))?;
            }
            let dot = s.color.filled();
            chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, dot)))?;
        }
        let keys: Vec<(&str, Key)> = series
            .iter()
            .map(|s| (s.name.as_str(), Key::Line(s.color, s.dashed)))
            .collect();
        legend(side, &keys)
    })
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
    svg.text(margin, 24.0, 15.0, "start", title);
    let mut y = 44.0;
    for (name, panels) in rows {
        svg.text(margin, y + 14.0, 13.0, "start", name);
        y += 22.0;
        let mut x0 = margin;
        let mut row_h: f64 = 0.0;
        for panel in panels {
            for (i, line) in panel.caption.iter().enumerate() {
                svg.text(x0, y + 12.0 + i as f64 * 15.0, 12.0, "start", line);
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
                    svg.text(x + (cell - 2.0) / 2.0, yy + 13.5, 10.0, "middle", &c.label);
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
        svg.text(x + 20.0, y + 12.0, 12.0, "start", state);
        x += 100.0;
    }
    svg.text(x, y + 12.0, 12.0, "start", legend_note);
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Every text is closed, every other element closes itself.
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        for tag in ["<rect", "<line", "<polyline", "<circle", "<path"] {
            for rest in svg.split(tag).skip(1) {
                let end = rest.find('>').unwrap();
                assert!(rest[..end].ends_with('/'), "{tag}{}", &rest[..end]);
            }
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(esc("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn axes() {
        assert_eq!(value_range(&[3.0, 450.0], true), (1.0, 1000.0));
        assert_eq!(value_range(&[0.0, 7.3], false), (0.0, 8.0));
        assert_eq!(value_range(&[], true), (1.0, 10.0));
        let a = Axis::new((1.0, 1000.0), true, 0.0);
        assert_eq!(
            (a.fraction(1.0), a.fraction(1000.0), a.fraction(0.5)),
            (0.0, 1.0, 0.0)
        );
        assert_eq!(a.map(&10.0, (300, 0)), 200);
        assert_eq!(
            a.labelled,
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(a.faint.len(), 3 * 6);
        let l = Axis::new((0.0, 3.0), false, 1.0);
        assert_eq!(l.labelled, [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(nice_step(0.17), 0.2);
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1000.0), "1000");
    }

    #[test]
    fn charts_are_well_formed() {
        let series = vec![
            ("pool".to_string(), RGBColor(0x12, 0x34, 0x56)),
            ("kernel".into(), RGBColor(0x65, 0x43, 0x21)),
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
                color: RGBColor(0x12, 0x34, 0x56),
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
