//! The dashboard: three charts drawn as SVG on the server (no chart library in the
//! browser): complaints per channel per day, the status funnel, and each unit's record
//! against its answer deadline. The geometry is computed here; the template writes it
//! out, escaping every label. Each chart has its numbers in a table as well.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{queue_error, render, Chrome, Staff};
use crate::http::AppState;
use crate::queue::insight::{wib_day, Dashboard};

const DAYS: i64 = 14;

pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub class: String,
    pub label: String,
}

pub struct Tick {
    pub x: f64,
    pub y: f64,
    pub text: String,
}

pub struct DailyChart {
    pub width: f64,
    pub height: f64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub max: i64,
    /// The CSS class and the label of every registered kind, in registration order.
    pub legend: Vec<(String, &'static str)>,
    /// Day label, then one count per registered kind, in the legend's order.
    pub table: Vec<(String, Vec<i64>)>,
}

pub struct HBar {
    pub label: String,
    pub value: i64,
    pub y: f64,
    pub w: f64,
    pub late_w: f64,
    pub text: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    daily: DailyChart,
    funnel: Vec<HBar>,
    funnel_height: f64,
    side: Vec<(&'static str, i64)>,
    sla: Vec<HBar>,
    sla_height: f64,
    empty: bool,
}

fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%d/%m").to_string())
        .unwrap_or_default()
}

/// The class the console's stylesheet colours a kind's bars with (`ch-other` for a kind
/// no factory describes): the same `ch-<kind>` the queue's rows carry.
fn class_of(kind: Option<&str>) -> String {
    format!("ch-{}", kind.unwrap_or("other"))
}

fn daily_chart(t: &super::Texts, d: &Dashboard, today: i64) -> DailyChart {
    let kinds: Vec<&'static str> = crate::registry::kinds().iter().map(|f| f.kind()).collect();
    let first = today - DAYS + 1;
    // One column per registered kind, and a last one for any other.
    let mut counts = vec![vec![0i64; kinds.len() + 1]; DAYS as usize];
    for c in &d.per_day {
        let Ok(i) = usize::try_from(c.day - first) else {
            continue;
        };
        if let Some(row) = counts.get_mut(i) {
            let k = kinds
                .iter()
                .position(|k| *k == c.channel)
                .unwrap_or(kinds.len());
            row[k] += c.count;
        }
    }
    let max = counts
        .iter()
        .map(|r| r.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (left, top, plot_w, plot_h) = (36.0, 10.0, 560.0, 180.0);
    let slot = plot_w / DAYS as f64;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    for (i, row) in counts.iter().enumerate() {
        let x = left + i as f64 * slot + slot * 0.15;
        let mut y = top + plot_h;
        for (k, n) in row.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = plot_h * (*n as f64) / (max as f64);
            y -= h;
            let kind = kinds.get(k).copied();
            bars.push(Bar {
                x,
                y,
                w: slot * 0.7,
                h,
                class: class_of(kind),
                label: format!(
                    "{} · {}: {n}",
                    day_label(first + i as i64),
                    kind.map_or(t.other_kind, |k| t.channel_kind(k))
                ),
            });
        }
        // Every other day, counted back from today so that today is labelled.
        if (DAYS as usize - 1 - i) % 2 == 0 {
            ticks.push(Tick {
                x: x + slot * 0.35,
                y: top + plot_h + 16.0,
                text: day_label(first + i as i64),
            });
        }
    }
    DailyChart {
        width: left + plot_w + 10.0,
        height: top + plot_h + 24.0,
        bars,
        ticks,
        max,
        legend: kinds
            .iter()
            .map(|k| (class_of(Some(k)), t.channel_kind(k)))
            .collect(),
        table: counts
            .iter()
            .enumerate()
            .map(|(i, r)| (day_label(first + i as i64), r[..kinds.len()].to_vec()))
            .collect(),
    }
}

const ROW: f64 = 30.0;
const BAR_W: f64 = 380.0;

fn funnel(t: &super::Texts, d: &Dashboard) -> (Vec<HBar>, Vec<(&'static str, i64)>) {
    let n = |set: &[&str]| -> i64 {
        d.by_status
            .iter()
            .filter(|(s, _)| set.contains(&s.as_str()))
            .map(|(_, c)| *c)
            .sum()
    };
    let total: i64 = d.by_status.iter().map(|(_, c)| *c).sum();
    let stages: [(&str, i64); 6] = [
        (t.funnel_received, total),
        (
            t.status("verified"),
            n(&[
                "verified",
                "forwarded",
                "in_progress",
                "answered",
                "closed",
                "not_authority",
            ]),
        ),
        (
            t.status("forwarded"),
            n(&["forwarded", "in_progress", "answered", "closed"]),
        ),
        (
            t.status("in_progress"),
            n(&["in_progress", "answered", "closed"]),
        ),
        (t.status("answered"), n(&["answered", "closed"])),
        (t.status("closed"), n(&["closed"])),
    ];
    let max = total.max(1) as f64;
    let bars = stages
        .iter()
        .enumerate()
        .map(|(i, (label, v))| HBar {
            label: (*label).to_owned(),
            value: *v,
            y: i as f64 * ROW,
            w: BAR_W * (*v as f64) / max,
            late_w: 0.0,
            text: v.to_string(),
        })
        .collect();
    let side = ["on_hold", "not_authority", "archived", "rejected", "merged"]
        .into_iter()
        .map(|s| (t.status(s), n(&[s])))
        .filter(|(_, c)| *c > 0)
        .collect();
    (bars, side)
}

fn sla(t: &super::Texts, d: &Dashboard) -> Vec<HBar> {
    d.sla
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let total = u.total.max(1) as f64;
            let on_time = u.total - u.late;
            let pct = (100.0 * on_time as f64 / total).round();
            HBar {
                label: u.unit.clone(),
                value: u.total,
                y: i as f64 * ROW,
                w: BAR_W,
                late_w: BAR_W * (u.late as f64) / total,
                text: format!(
                    "{pct}% {} ({on_time}/{}), {} {}",
                    t.on_time, u.total, u.late, t.late
                ),
            }
        })
        .collect()
}

pub async fn page(State(st): State<AppState>, staff: Staff) -> Response {
    let t = staff.t();
    let d = match st.queue.dashboard(&staff.actor, DAYS).await {
        Ok(d) => d,
        Err(e) => return queue_error(&staff, e),
    };
    let today = wib_day(crate::store::now_micros());
    let (funnel, side) = funnel(t, &d);
    let sla = sla(t, &d);
    render(
        StatusCode::OK,
        &DashboardPage {
            c: staff.chrome("dashboard"),
            daily: daily_chart(t, &d, today),
            funnel_height: funnel.len() as f64 * ROW,
            sla_height: (sla.len() as f64 * ROW).max(ROW),
            empty: d.by_status.is_empty(),
            funnel,
            side,
            sla,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::console::Lang;
    use crate::queue::insight::DayCount;

    /// The `i`-th registered kind: the chart draws whichever kinds are registered.
    fn kind(i: usize) -> String {
        crate::registry::kinds()[i].kind().to_owned()
    }

    #[test]
    fn daily_bars_stack_per_channel_inside_the_plot_and_today_is_labelled() {
        let today = 20_000;
        let d = Dashboard {
            per_day: vec![
                DayCount {
                    channel: kind(1),
                    day: today,
                    count: 3,
                },
                DayCount {
                    channel: kind(2),
                    day: today,
                    count: 1,
                },
                DayCount {
                    channel: kind(0),
                    day: today - 2,
                    count: 2,
                },
                // Outside the window: not drawn.
                DayCount {
                    channel: kind(1),
                    day: today - 40,
                    count: 9,
                },
            ],
            ..Dashboard::default()
        };
        let c = daily_chart(Lang::Id.texts(), &d, today);
        assert_eq!(c.max, 4);
        assert_eq!(c.bars.len(), 3);
        for b in &c.bars {
            assert!(
                b.y >= 10.0 - 1e-9 && b.y + b.h <= 190.0 + 1e-9,
                "inside the plot"
            );
        }
        // Today's column (the rightmost) is the busiest day: full height.
        let today_x = c.bars.iter().map(|b| b.x).fold(f64::MIN, f64::max);
        let today_h: f64 = c.bars.iter().filter(|b| b.x == today_x).map(|b| b.h).sum();
        assert!((today_h - 180.0).abs() < 1e-6, "{today_h}");
        assert_eq!(
            c.ticks.last().map(|t| t.text.clone()),
            Some(day_label(today))
        );
        assert_eq!(c.table.len(), DAYS as usize);
    }

    #[test]
    fn a_kind_has_one_class_in_the_bars_and_the_legend() {
        let today = 20_000;
        let d = Dashboard {
            per_day: vec![
                DayCount {
                    channel: kind(0),
                    day: today,
                    count: 1,
                },
                DayCount {
                    channel: "a-kind-no-factory-builds".into(),
                    day: today,
                    count: 1,
                },
            ],
            ..Dashboard::default()
        };
        let c = daily_chart(Lang::En.texts(), &d, today);
        let legend: Vec<&str> = c.legend.iter().map(|(class, _)| class.as_str()).collect();
        assert_eq!(legend.len(), crate::registry::kinds().len());
        assert_eq!(c.bars[0].class, legend[0]);
        assert_eq!(c.bars[1].class, "ch-other");
        assert!(c.bars[1].label.ends_with("Other: 1"), "{}", c.bars[1].label);
        assert!(c
            .table
            .iter()
            .all(|(_, counts)| counts.len() == legend.len()));
    }
}
