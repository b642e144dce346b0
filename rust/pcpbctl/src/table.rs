// SPDX-License-Identifier: GPL-2.0

//! Plain aligned text tables for people, and the number formats every output shares.

/// How a column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table: a header line and rows, columns separated by two spaces. Text columns are left-aligned,
/// numeric columns right-aligned.
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first column is left-aligned and the others right-aligned.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Self {
        let align = (0..headers.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        Table {
            headers: headers.iter().map(|h| h.as_ref().to_string()).collect(),
            align,
            rows: Vec::new(),
        }
    }

    /// Sets the alignment of the given column.
    pub fn align(mut self, column: usize, align: Align) -> Self {
        self.align[column] = align;
        self
    }

    /// Appends a row; missing cells are empty.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, each line ending in a newline, no trailing blanks: laid out by
    /// comfy-table with no borders, two spaces between columns.
    pub fn render(&self) -> String {
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::NOTHING)
            .set_header(&self.headers)
            .add_rows(&self.rows);
        for (i, column) in t.column_iter_mut().enumerate() {
            // The gap between columns is the right padding of one and the left of the next.
            column.set_padding((u16::from(i > 0), 1));
            column.set_cell_alignment(match self.align[i] {
                Align::Left => comfy_table::CellAlignment::Left,
                Align::Right => comfy_table::CellAlignment::Right,
            });
        }
        t.lines().map(|l| l.trim_end().to_string() + "\n").collect()
    }

    /// The table in GitHub Markdown (`|`-separated, alignment row). By hand: comfy-table's
    /// Markdown style writes no alignment row (`:---`, `---:`) and does not escape `|`.
    pub fn markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|");
        let mut out = String::new();
        out.push_str(&format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        out.push_str(&format!(
            "|{}|\n",
            self.align
                .iter()
                .map(|a| match a {
                    Align::Left => ":---",
                    Align::Right => "---:",
                })
                .collect::<Vec<_>>()
                .join("|")
        ));
        for row in &self.rows {
            let cells: Vec<String> = (0..self.headers.len())
                .map(|i| esc(row.get(i).map(String::as_str).unwrap_or("")))
                .collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// A time per operation in nanoseconds: three significant digits at most, `-` when absent.
pub fn ns(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// A ratio such as `0.62x`, `3.10x`, `12.4x`; `-` when absent.
pub fn ratio(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}x"),
        Some(v) if v < 100.0 => format!("{v:.1}x"),
        Some(v) => format!("{v:.0}x"),
    }
}

/// A rate with two decimals (global-lock acquisitions per 1000 operations); `-` when absent.
pub fn rate(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["name", "value"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["longer".into(), "12345".into()]);
        t.row(vec!["short".into()]);
        assert_eq!(
            t.render(),
            "name    value\na           1\nlonger  12345\nshort\n"
        );
        let t = Table::new(&["ünï", "b"]).align(1, Align::Left);
        assert_eq!(t.render(), "ünï  b\n");
    }

    #[test]
    fn markdown_has_alignment_row() {
        let mut t = Table::new(&["a", "b"]).align(1, Align::Left);
        t.row(vec!["x|y".into(), "2".into()]);
        assert_eq!(t.markdown(), "| a | b |\n|:---|:---|\n| x\\|y | 2 |\n");
    }

    #[test]
    fn number_formats() {
        assert_eq!(ns(Some(3.456)), "3.46");
        assert_eq!(ns(Some(45.25)), "45.2");
        assert_eq!(ns(Some(1234.6)), "1235");
        assert_eq!(ns(None), "-");
        assert_eq!(ratio(Some(0.6234)), "0.62x");
        assert_eq!(ratio(Some(31.4)), "31.4x");
        assert_eq!(rate(Some(1.0 / 3.0)), "0.33");
    }
}
