//! Accuracy against reasoning length: samples bucketed by reasoning tokens into
//! equal-count bins, drawn as a PNG with plotters.
//!
//! Text is rendered with plotters' pure-Rust `ab_glyph` backend and DejaVu Sans
//! embedded by the `dejavu` crate, so no system font library is needed.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde::Serialize;

/// One bucket of samples with similar reasoning lengths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LengthBin {
    /// Smallest and largest reasoning length in the bin (tokens, inclusive).
    pub min_tokens: u64,
    pub max_tokens: u64,
    /// Mean reasoning length of the bin's samples (tokens); the point's x.
    pub mean_tokens: f64,
    pub count: usize,
    /// Mean correctness of the bin's samples, in [0, 1].
    pub accuracy: f64,
}

/// Splits `(reasoning_tokens, correct)` samples into at most `max_bins` bins of
/// about equal size, in increasing length. Samples of equal length always share a
/// bin, so there may be fewer bins (one per distinct length at most).
pub fn length_bins(samples: &[(u64, bool)], max_bins: usize) -> Vec<LengthBin> {
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|(tokens, _)| *tokens);
    let n = sorted.len();
    let bins = max_bins.min(n).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for b in 1..=bins {
        let mut end = (b * n / bins).max(start);
        // Keep ties together: move the cut past samples of the same length.
        while end > start && end < n && sorted[end].0 == sorted[end - 1].0 {
            end += 1;
        }
        if end > start {
            out.push(bin_of(&sorted[start..end]));
            start = end;
        }
    }
    out
}

fn bin_of(samples: &[(u64, bool)]) -> LengthBin {
    let count = samples.len();
    LengthBin {
        min_tokens: samples[0].0,
        max_tokens: samples[count - 1].0,
        mean_tokens: samples.iter().map(|(t, _)| *t as f64).sum::<f64>() / count as f64,
        count,
        accuracy: samples.iter().filter(|(_, c)| *c).count() as f64 / count as f64,
    }
}

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (once per process).
pub(crate) fn register_fonts() -> anyhow::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| anyhow!("the embedded DejaVu Sans font could not be parsed"));
    });
    result
}

/// Draws `bins` (accuracy against mean reasoning tokens, each point labelled with its
/// sample count) and a dashed line at the overall accuracy `pass_at_1` into a
/// 900×560 PNG at `path`. Errors when the file cannot be written.
pub fn draw(path: &Path, bins: &[LengthBin], pass_at_1: f64, title: &str) -> anyhow::Result<()> {
    register_fonts()?;
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    // The x axis spans the data (not 0..max): bins of long reasoning stay apart.
    let lo = bins.iter().map(|b| b.min_tokens as f64).fold(f64::INFINITY, f64::min);
    let hi = bins.iter().map(|b| b.max_tokens as f64).fold(1.0, f64::max);
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let pad = ((hi - lo) * 0.08).max(1.0);
    let (x_min, x_max) = ((lo - pad).max(0.0), hi + pad);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, 0.0..1.1)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_desc("reasoning tokens (bin mean)")
        .y_desc("accuracy (mean correctness)")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .draw()?;
    let overall = [(x_min, pass_at_1), (x_max, pass_at_1)];
    chart
        .draw_series(DashedLineSeries::new(overall, 8, 6, RED.stroke_width(1)))?
        .label(format!("pass@1 = {pass_at_1:.3}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    let points: Vec<(f64, f64)> = bins.iter().map(|b| (b.mean_tokens, b.accuracy)).collect();
    chart
        .draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))?
        .label("accuracy per reasoning-length bin")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    // Count labels alternate between two heights so that close bins stay readable.
    chart.draw_series(bins.iter().enumerate().map(|(i, b)| {
        EmptyElement::at((b.mean_tokens, b.accuracy))
            + Circle::new((0, 0), 4, BLUE.filled())
            + Text::new(format!("n={}", b.count), (-14, if i % 2 == 0 { -20 } else { -34 }), ("sans-serif", 12))
    }))?;
    // The legend goes where the points are not: low when accuracy is mostly high.
    let legend_at = if pass_at_1 >= 0.5 { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight };
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_have_equal_counts_and_their_mean_accuracy() {
        // Lengths 1..=20, correct when the length is even: four bins of five.
        let samples: Vec<(u64, bool)> = (1..=20).rev().map(|t| (t, t % 2 == 0)).collect();
        let bins = length_bins(&samples, 4);
        assert_eq!(bins.len(), 4);
        assert_eq!(bins[0], LengthBin { min_tokens: 1, max_tokens: 5, mean_tokens: 3.0, count: 5, accuracy: 0.4 });
        assert_eq!(bins[1], LengthBin { min_tokens: 6, max_tokens: 10, mean_tokens: 8.0, count: 5, accuracy: 0.6 });
        assert_eq!(bins[3].max_tokens, 20);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 20);
    }

    #[test]
    fn equal_lengths_share_a_bin() {
        let samples = [(5, true), (5, false), (5, true), (9, true)];
        let bins = length_bins(&samples, 4);
        assert_eq!(bins.len(), 2);
        assert_eq!((bins[0].count, bins[0].min_tokens, bins[0].max_tokens), (3, 5, 5));
        assert!((bins[0].accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!((bins[1].count, bins[1].accuracy), (1, 1.0));
    }

    #[test]
    fn no_samples_give_no_bins() {
        assert!(length_bins(&[], 10).is_empty());
    }

    #[test]
    fn the_plot_is_written_as_a_png() {
        let samples: Vec<(u64, bool)> = (0..200).map(|i| (i * 3, i % 3 != 0 || i < 60)).collect();
        let bins = length_bins(&samples, 10);
        let path = std::env::temp_dir().join(format!("ponder-bench-plot-{}.png", std::process::id()));
        draw(&path, &bins, 0.8, "test plot").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_file(&path).unwrap();
    }
}
