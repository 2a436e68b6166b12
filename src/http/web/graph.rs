//! Draws the service dependency graph as inline SVG: services in layers,
//! each above what it depends on, edges pointing down. No JavaScript; the
//! SVG scales to the screen through its viewBox.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::domain::org::{Org, ServiceKind};

const NODE_WIDTH: i64 = 150;
const NODE_HEIGHT: i64 = 34;
const GAP_X: i64 = 24;
const GAP_Y: i64 = 56;
const MARGIN: i64 = 10;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render_svg(org: &Org) -> String {
    let layers = org.dependency_layers();
    let mut rows: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for service in &org.services {
        rows.entry(layers[&service.name])
            .or_default()
            .push(&service.name);
    }
    let widest = rows.values().map(Vec::len).max().unwrap_or(1) as i64;
    let width = MARGIN * 2 + widest * NODE_WIDTH + (widest - 1).max(0) * GAP_X;
    let height = MARGIN * 2 + rows.len() as i64 * (NODE_HEIGHT + GAP_Y) - GAP_Y;

    // Centre each row, so short rows do not hug the left edge.
    let mut position: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (row, names) in &rows {
        let count = names.len() as i64;
        let row_width = count * NODE_WIDTH + (count - 1) * GAP_X;
        let start = (width - row_width) / 2;
        for (i, name) in names.iter().enumerate() {
            let x = start + i as i64 * (NODE_WIDTH + GAP_X);
            let y = MARGIN + *row as i64 * (NODE_HEIGHT + GAP_Y);
            position.insert(name, (x, y));
        }
    }

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="dependency-graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Service dependency graph" xmlns="http://www.w3.org/2000/svg">"#
    );
    for service in &org.services {
        let Some(&(x, y)) = position.get(service.name.as_str()) else {
            continue;
        };
        for dependency in &service.depends_on {
            if let Some(&(dx, dy)) = position.get(dependency.as_str()) {
                let _ = write!(
                    svg,
                    r#"<line x1="{}" y1="{}" x2="{}" y2="{}"><title>{} depends on {}</title></line>"#,
                    x + NODE_WIDTH / 2,
                    y + NODE_HEIGHT,
                    dx + NODE_WIDTH / 2,
                    dy,
                    escape(&service.name),
                    escape(dependency)
                );
            }
        }
    }
    for service in &org.services {
        let Some(&(x, y)) = position.get(service.name.as_str()) else {
            continue;
        };
        let mut class = String::from("node");
        if service.kind == ServiceKind::External {
            class.push_str(" external");
        }
        if let Some(tier) = service.tier {
            let _ = write!(class, " tier-{tier}");
        }
        let name = escape(&service.name);
        let mut label = service.display_name.clone();
        if label.chars().count() > 18 {
            label = label.chars().take(17).collect::<String>() + "…";
        }
        let _ = write!(
            svg,
            r#"<g class="{class}" data-service="{name}"><a href="/services/{name}"><rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}"/><text x="{}" y="{}" text-anchor="middle">{}</text></a></g>"#,
            x + NODE_WIDTH / 2,
            y + NODE_HEIGHT / 2 + 5,
            escape(&label)
        );
    }
    svg.push_str("</svg>");
    svg
}
