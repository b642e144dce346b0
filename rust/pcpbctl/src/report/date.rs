// SPDX-License-Identifier: GPL-2.0

//! The report's date.

use time::macros::format_description;
use time::OffsetDateTime;

/// `YYYY-MM-DD HH:MM UTC` for seconds since the epoch.
pub fn utc_date(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}
