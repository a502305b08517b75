//! SVG plots of the samples: descriptors and resident memory against time.

use crate::sample::Sample;
use plotters::prelude::*;
use std::path::Path;

/// Plots `value` of every sample against time, with the run's phases marked by the sessions
/// count in the caption.
pub fn line(path: &Path, title: &str, unit: &str, samples: &[Sample], value: fn(&Sample) -> f64) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let t_max = samples.iter().map(|s| s.t).fold(1.0, f64::max);
    let y_max = samples.iter().map(value).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc(unit)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(samples.iter().map(|s| (s.t, value(s))), BLUE.stroke_width(2)))
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
