//! SVG plots of the ratios connseq / HAProxy (plotters' SVG backend): one
//! horizontal bar per measure at its median, a whisker from the smallest
//! to the largest round, a grey line at parity and a red tick at the goal.

use std::io;
use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::report::{Goal, Spread};

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Its label.
    pub label: String,
    /// The ratio's median and spread.
    pub ratio: Spread,
    /// Where the goal stands, if any.
    pub goal: Option<Goal>,
    /// Lower is better (CPU cost, latency): the bar is drawn in another colour.
    pub lower_is_better: bool,
}

fn err(e: impl std::fmt::Debug) -> io::Error {
    io::Error::other(format!("plot: {e:?}"))
}

/// Writes the bars as an SVG to `path`.
pub fn ratios(path: &Path, title: &str, bars: &[Bar]) -> io::Result<()> {
    let n = bars.len();
    let height = 90 + 26 * u32::try_from(n).unwrap_or(1);
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = bars.iter().map(|b| b.ratio.max.max(b.goal.map_or(0.0, Goal::value))).fold(1.5f64, f64::max) * 1.1;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(340)
        .build_cartesian_2d(0f64..top, (0..n).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("connseq / HAProxy (median, whisker: smallest to largest round)")
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    let better = RGBColor(70, 130, 180);
    let more = RGBColor(95, 170, 95);
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let colour = if b.lower_is_better { better } else { more };
            let mut r = Rectangle::new(
                [(0.0, SegmentValue::Exact(i)), (b.ratio.median, SegmentValue::Exact(i + 1))],
                colour.filled(),
            );
            r.set_margin(4, 4, 0, 0);
            r
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            PathElement::new(
                vec![(b.ratio.min, SegmentValue::CenterOf(i)), (b.ratio.max, SegmentValue::CenterOf(i))],
                BLACK.stroke_width(2),
            )
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let g = b.goal?.value();
            Some(PathElement::new(
                vec![(g, SegmentValue::Exact(i)), (g, SegmentValue::Exact(i + 1))],
                RED.stroke_width(3),
            ))
        }))
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
            RGBColor(120, 120, 120).stroke_width(1),
        )))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
