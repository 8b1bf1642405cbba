//! PNG plots of a load run with plotters: latency CDFs (TTFT, TPOT, ITL, E2E; one
//! line per concurrency limit) and throughput against concurrency.

use std::path::Path;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::metrics::{RunReport, Slo};
use crate::eval::plot::register_fonts;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Writes `latency_cdf.png` (with the `--slo` thresholds drawn), and
/// `throughput_vs_concurrency.png` when there are several runs, into `dir` (created if
/// missing).
pub fn draw_all(dir: &Path, runs: &[RunReport], slo: Option<Slo>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    latency_cdfs(&dir.join("latency_cdf.png"), runs, slo.unwrap_or_default())?;
    if runs.len() > 1 {
        throughput_vs_concurrency(&dir.join("throughput_vs_concurrency.png"), runs)?;
    }
    Ok(())
}

fn label(r: &RunReport) -> String {
    r.max_concurrency.map_or_else(|| "concurrency unlimited".into(), |c| format!("concurrency {c}"))
}

/// The empirical CDF of `values` as a step line: for each sorted value `x`, the
/// points `(x, fraction < x)` and `(x, fraction ≤ x)`.
pub fn cdf_points(values: &[f64]) -> Vec<(f64, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter().enumerate().flat_map(|(i, x)| [(*x, i as f64 / n), (*x, (i + 1) as f64 / n)]).collect()
}

/// A 2×2 grid of CDFs, 1200×900.
fn latency_cdfs(path: &Path, runs: &[RunReport], slo: Slo) -> anyhow::Result<()> {
    register_fonts()?;
    let root = BitMapBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 2));
    type Pick = fn(&RunReport) -> Vec<f64>;
    let metrics: [(&str, Pick, Option<f64>); 4] = [
        ("TTFT (ms)", |r| r.samples.iter().map(|s| s.ttft_ms).collect(), slo.ttft_ms),
        ("TPOT (ms)", |r| r.samples.iter().filter_map(|s| s.tpot_ms).collect(), slo.tpot_ms),
        ("ITL (ms)", |r| r.samples.iter().flat_map(|s| s.itl_ms.iter().copied()).collect(), None),
        ("E2E latency (ms)", |r| r.samples.iter().map(|s| s.e2e_ms).collect(), slo.e2el_ms),
    ];
    for (panel, (name, pick, threshold)) in panels.iter().zip(metrics) {
        let series: Vec<(String, Vec<(f64, f64)>)> = runs.iter().map(|r| (label(r), cdf_points(&pick(r)))).collect();
        cdf_panel(panel, name, &series, threshold)?;
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One CDF panel; `threshold` (an SLO, ms) is drawn as a dashed vertical line.
fn cdf_panel(area: &Area, name: &str, series: &[(String, Vec<(f64, f64)>)], threshold: Option<f64>) -> anyhow::Result<()> {
    let data_max = series.iter().flat_map(|(_, p)| p.iter().map(|(x, _)| *x)).fold(1e-3, f64::max);
    let x_max = data_max.max(threshold.unwrap_or(0.0)) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("CDF of {name}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc(name)
        .y_desc("fraction ≤ x")
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .draw()?;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    if let Some(t) = threshold {
        let dashed = DashedLineSeries::new([(t, 0.0), (t, 1.0)], 6, 4, BLACK.stroke_width(2));
        chart
            .draw_series(dashed)?
            .label(format!("SLO {t:.0} ms"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}

/// Output token and request throughput against the concurrency limit, 1200×500.
fn throughput_vs_concurrency(path: &Path, runs: &[RunReport]) -> anyhow::Result<()> {
    register_fonts()?;
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    let limited: Vec<&RunReport> = runs.iter().filter(|r| r.max_concurrency.is_some()).collect();
    let at = |f: fn(&RunReport) -> f64| -> Vec<(f64, f64)> {
        limited.iter().map(|r| (r.max_concurrency.unwrap_or(0) as f64, f(r))).collect()
    };
    xy_panel(&panels[0], "output tokens/s", &at(|r| r.output_throughput), BLUE)?;
    xy_panel(&panels[1], "requests/s", &at(|r| r.request_throughput), RED)?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Concurrency on a log₂-spaced x axis (1, 2, 4, … streams), values labelled beside
/// their markers.
fn xy_panel(area: &Area, y_name: &str, points: &[(f64, f64)], color: RGBColor) -> anyhow::Result<()> {
    let x_min = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).max(1.0) / 1.5;
    let x_max = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.5;
    let y_max = points.iter().map(|p| p.1).fold(1e-3, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{y_name} vs max concurrency"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_max)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("max concurrency")
        .y_desc(y_name)
        .axis_desc_style(("sans-serif", 14))
        .label_style(("sans-serif", 12))
        .draw()?;
    chart.draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?;
    chart.draw_series(points.iter().map(|&(x, y)| {
        EmptyElement::at((x, y)) + Circle::new((0, 0), 4, color.filled()) + Text::new(format!("{y:.3}"), (8, -20), ("sans-serif", 12))
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_points_rise_to_one_over_sorted_values() {
        let steps = [(1.0, 0.0), (1.0, 0.25), (2.0, 0.25), (2.0, 0.5), (3.0, 0.5), (3.0, 0.75), (4.0, 0.75), (4.0, 1.0)];
        assert_eq!(cdf_points(&[3.0, 1.0, 2.0, 4.0]), steps);
        assert!(cdf_points(&[]).is_empty());
    }
}
