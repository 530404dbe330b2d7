//! Geo shapes: `geo_shape` values as GeoJSON objects (what CrateDB stores
//! and returns), read from GeoJSON or WKT, and the point-in-shape test
//! `within(point, shape)` answers.
//!
//! Shapes are kept in `_source` and not indexed, so `within` is evaluated
//! row by row; coordinates are planar (longitude, latitude), as the
//! polygons CrateDB's documentation uses are small enough for that.

use crate::error::{Error, Result};
use crate::types::{Object, Value};

const TYPES: [&str; 7] = [
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
];

fn invalid(what: impl std::fmt::Display) -> Error {
    Error::Cast(format!("Cannot convert {what} to geo_shape"))
}

/// A `geo_shape` value from a GeoJSON object or WKT text.
pub fn to_shape(v: Value) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Object(o) => {
            check_geojson(&o)?;
            Ok(Value::Object(o))
        }
        Value::Text(t) => from_wkt(&t),
        other => Err(invalid(format!("{other:?}"))),
    }
}

fn check_geojson(o: &Object) -> Result<()> {
    let kind = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a GeoJSON object without \"type\""))?;
    let Some(kind) = TYPES.iter().find(|t| t.eq_ignore_ascii_case(kind)) else {
        return Err(invalid(format!("GeoJSON type \"{kind}\"")));
    };
    if *kind == "GeometryCollection" {
        return match o.get("geometries") {
            Some(Value::Array(items)) => items.iter().try_for_each(|g| match g {
                Value::Object(g) => check_geojson(g),
                _ => Err(invalid("a geometry that is not an object")),
            }),
            _ => Err(invalid("a GeometryCollection without \"geometries\"")),
        };
    }
    let depth = match *kind {
        "Point" => 0,
        "MultiPoint" | "LineString" => 1,
        "MultiLineString" | "Polygon" => 2,
        _ => 3,
    };
    let coords = o
        .get("coordinates")
        .ok_or_else(|| invalid(format!("a {kind} without \"coordinates\"")))?;
    check_coordinates(coords, depth)
}

fn check_coordinates(v: &Value, depth: usize) -> Result<()> {
    match (v, depth) {
        (Value::Array(p), 0) => match p.as_slice() {
            [x, y, ..] if x.as_f64().is_some() && y.as_f64().is_some() => Ok(()),
            _ => Err(invalid("a position that is not [lon, lat]")),
        },
        (Value::Array(items), _) => items
            .iter()
            .try_for_each(|i| check_coordinates(i, depth - 1)),
        _ => Err(invalid("coordinates that are not arrays")),
    }
}

/// Parses WKT (`POINT (1 2)`, `POLYGON ((...), (...))`, `MULTIPOLYGON (...)`, ...).
fn from_wkt(text: &str) -> Result<Value> {
    let t = text.trim();
    let open = t.find('(').ok_or_else(|| invalid(format!("'{text}'")))?;
    let word = t[..open].trim().to_ascii_uppercase();
    let kind = match word.as_str() {
        "POINT" => "Point",
        "MULTIPOINT" => "MultiPoint",
        "LINESTRING" => "LineString",
        "MULTILINESTRING" => "MultiLineString",
        "POLYGON" => "Polygon",
        "MULTIPOLYGON" => "MultiPolygon",
        _ => return Err(invalid(format!("'{text}'"))),
    };
    let mut chars = t[open..].chars().peekable();
    let coords = wkt_list(&mut chars, 0).ok_or_else(|| invalid(format!("'{text}'")))?;
    if chars.any(|c| !c.is_whitespace()) {
        return Err(invalid(format!("'{text}'")));
    }
    // WKT writes a point as `(x y)` and a multipoint's points without parentheses.
    let coords = match (kind, coords) {
        ("Point", Value::Array(mut items)) if items.len() == 1 => items.remove(0),
        (_, c) => c,
    };
    let mut o = Object::default();
    o.insert("type".into(), Value::Text(kind.into()));
    o.insert("coordinates".into(), coords);
    check_geojson(&o)?;
    Ok(Value::Object(Box::new(o)))
}

/// `( item, item, ... )` where an item is a nested list or `x y`.
fn wkt_list(chars: &mut std::iter::Peekable<std::str::Chars>, depth: usize) -> Option<Value> {
    if depth > 8 {
        return None;
    }
    skip_ws(chars);
    if chars.next()? != '(' {
        return None;
    }
    let mut items = Vec::new();
    loop {
        skip_ws(chars);
        if *chars.peek()? == '(' {
            items.push(wkt_list(chars, depth + 1)?);
        } else {
            let mut nums = Vec::new();
            let mut token = String::new();
            while let Some(&c) = chars.peek() {
                if c == ',' || c == ')' {
                    break;
                }
                chars.next();
                if c.is_whitespace() {
                    if !token.is_empty() {
                        nums.push(Value::Float(token.parse().ok()?));
                        token.clear();
                    }
                } else {
                    token.push(c);
                }
            }
            if !token.is_empty() {
                nums.push(Value::Float(token.parse().ok()?));
            }
            if nums.len() < 2 {
                return None;
            }
            items.push(Value::Array(nums));
        }
        skip_ws(chars);
        match chars.next()? {
            ',' => continue,
            ')' => return Some(Value::Array(items)),
            _ => return None,
        }
    }
}

fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars>) {
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
}

fn position(v: &Value) -> Option<(f64, f64)> {
    match v {
        Value::Array(p) if p.len() >= 2 => Some((p[0].as_f64()?, p[1].as_f64()?)),
        _ => None,
    }
}

/// Whether a point lies in a ring (ray casting; a point on an edge may go either way).
fn in_ring(ring: &[Value], (x, y): (f64, f64)) -> bool {
    let pts: Vec<(f64, f64)> = ring.iter().filter_map(position).collect();
    let mut inside = false;
    let mut j = pts.len().wrapping_sub(1);
    for i in 0..pts.len() {
        let (xi, yi) = pts[i];
        let (xj, yj) = pts[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// A polygon: its outer ring, minus its holes.
fn in_polygon(rings: &[Value], p: (f64, f64)) -> bool {
    let mut rings = rings.iter().filter_map(|r| match r {
        Value::Array(r) => Some(r),
        _ => None,
    });
    match rings.next() {
        Some(outer) if in_ring(outer, p) => !rings.any(|hole| in_ring(hole, p)),
        _ => false,
    }
}

/// `within(point, shape)`: whether the point lies inside the shape's
/// area (polygons; points and lines have none). `None` for a value that is
/// not a point or shape.
pub fn within(point: &Value, shape: &Value) -> Option<bool> {
    let p = match point {
        Value::Object(o) => position(o.get("coordinates")?)?,
        other => position(other)?,
    };
    let Value::Object(o) = shape else {
        return None;
    };
    let kind = o.get("type")?.as_str()?;
    let coords = o.get("coordinates");
    Some(match kind.to_ascii_lowercase().as_str() {
        "polygon" => match coords? {
            Value::Array(rings) => in_polygon(rings, p),
            _ => false,
        },
        "multipolygon" => match coords? {
            Value::Array(polys) => polys.iter().any(|poly| match poly {
                Value::Array(rings) => in_polygon(rings, p),
                _ => false,
            }),
            _ => false,
        },
        "geometrycollection" => match o.get("geometries")? {
            Value::Array(gs) => gs.iter().any(|g| within(point, g) == Some(true)),
            _ => false,
        },
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f64, y: f64) -> Value {
        Value::Array(vec![Value::Float(x), Value::Float(y)])
    }

    #[test]
    fn wkt_polygons_with_holes_contain_what_they_should() {
        let shape = to_shape(Value::Text(
            "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (4 4, 6 4, 6 6, 4 6, 4 4))".into(),
        ))
        .expect("polygon");
        assert_eq!(within(&point(1.0, 1.0), &shape), Some(true));
        assert_eq!(within(&point(5.0, 5.0), &shape), Some(false));
        assert_eq!(within(&point(11.0, 5.0), &shape), Some(false));
        let multi = to_shape(Value::Text(
            "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))".into(),
        ))
        .expect("multipolygon");
        assert_eq!(within(&point(5.9, 5.5), &multi), Some(true));
        assert_eq!(within(&point(3.0, 3.0), &multi), Some(false));
    }

    #[test]
    fn bad_shapes_are_refused() {
        for bad in [
            "POLYGON ((0 0, 1",
            "CIRCLE (1 2)",
            "POINT (1)",
            "POLYGON ((0 0, 1 1)) x",
        ] {
            assert!(to_shape(Value::Text(bad.into())).is_err(), "{bad}");
        }
        let mut o = Object::default();
        o.insert("type".into(), Value::Text("Polygon".into()));
        assert!(to_shape(Value::Object(Box::new(o))).is_err());
    }
}
