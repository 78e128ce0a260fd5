//! What OSM tags mean to the simulator: which ways are drivable roads (and in which
//! direction), which nodes are features of which class, and speed-limit values.
//!
//! Node features:
//!
//! | tags | class |
//! |---|---|
//! | `highway=traffic_signals` | traffic light |
//! | `highway=stop` | stop sign |
//! | `highway=give_way` | give-way sign |
//! | `highway=crossing` (not `crossing=no/unmarked/informal`), or `crossing=zebra/marked/uncontrolled/traffic_signals`, or `crossing_ref=zebra` | pedestrian-crossing sign (only where the node is on a drivable road: see `osm`) |
//! | `emergency=fire_hydrant` | fire hydrant |
//! | `traffic_sign*=` values, below | the sign's class |
//!
//! A `traffic_sign`, `traffic_sign:forward`, `traffic_sign:backward`... value lists one
//! or more signs separated by `;` or `,`; each is a word or a `COUNTRY:CODE`, with an
//! optional value in brackets (`FI:C32[40]`, `DE:274[50]`). Recognised:
//!
//! | sign | words | Finland, 2020 codes (pre-2020 codes) | Germany (StVO) | USA (MUTCD) |
//! |---|---|---|---|---|
//! | give way | `give_way`, `yield` | `FI:B5` (`FI:231`) | `DE:205` | `US:R1-2` |
//! | stop | `stop` | `FI:B6` (`FI:232`) | `DE:206` | `US:R1-1` |
//! | no entry | `no_entry` | `FI:C16` (`FI:331`) | `DE:267` | `US:R5-1` |
//! | no left turn | `no_left_turn` | `FI:C17` (`FI:332`) | — | `US:R3-2` |
//! | no right turn | `no_right_turn` | `FI:C18` (`FI:333`) | — | `US:R3-1` |
//! | no U-turn | `no_u_turn` | `FI:C19` (`FI:334`) | `DE:272` | `US:R3-4` |
//! | speed limit | `maxspeed` | `FI:C32` (`FI:361`) | `DE:274` | `US:R2-1` |
//! | pedestrian crossing | `pedestrian_crossing` | `FI:E1` (`FI:511`) | `DE:350` | — |
//!
//! Germany has no prohibitory turn signs: turns are restricted with the blue
//! mandatory-direction discs (`DE:209`, `DE:214`...), which look nothing like a
//! no-turn sign, so they are not read as one. Codes may carry a variant suffix
//! (`DE:350-10`, `DE:274.1`); only the base code is matched, and area signs such as
//! `DE:274.1` (a 30 zone) are still a speed-limit sign. A speed-limit sign's value is
//! its bracketed number, else the node's `maxspeed` tag; without either it takes the
//! limit of the road it stands on (see `osm`).
//!
//! Ways: `highway` of the drivable classes (motorway down to service roads and their
//! `_link`s), not areas; `oneway` is honoured, and roundabouts and motorways are
//! one-way by default. A way's `maxspeed` (or `maxspeed:forward`/`:backward`) is
//! read with [`parse_maxspeed`].

use streetcomb_core::FeatureClass;

const DRIVABLE: [&str; 14] = [
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "motorway_link",
    "trunk_link",
    "primary_link",
    "secondary_link",
    "tertiary_link",
];

/// Speed limits outside this range are tagging mistakes or not road limits, km/h.
const PLAUSIBLE_SPEED: std::ops::RangeInclusive<u32> = 5..=200;

/// Which way traffic may use a way, relative to its node order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oneway {
    Both,
    Forward,
    Backward,
}

/// A class read from a node's tags, with the sign's value when it shows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeClass {
    pub(crate) class: FeatureClass,
    pub(crate) value: Option<u32>,
    /// Only a feature where the node is on a drivable road: a crossing node (without
    /// a sign tag) may be where two footpaths cross, which has no sign for drivers.
    pub(crate) road_node_only: bool,
}

fn get<'a>(tags: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `Some(direction)` when a way's tags make it a drivable road.
pub(crate) fn drivable(tags: &[(&str, &str)]) -> Option<Oneway> {
    let highway = get(tags, "highway")?;
    if !DRIVABLE.contains(&highway) || get(tags, "area") == Some("yes") {
        return None;
    }
    Some(match get(tags, "oneway") {
        Some("yes" | "true" | "1") => Oneway::Forward,
        Some("-1" | "reverse") => Oneway::Backward,
        Some("no" | "false" | "0") => Oneway::Both,
        _ if highway == "motorway"
            || matches!(get(tags, "junction"), Some("roundabout" | "circular")) =>
        {
            Oneway::Forward
        }
        _ => Oneway::Both,
    })
}

/// The speed limits of a way for travel along and against its node order, km/h.
pub(crate) fn way_maxspeed(tags: &[(&str, &str)]) -> [Option<u32>; 2] {
    let both = get(tags, "maxspeed").and_then(parse_maxspeed);
    let one = |key| get(tags, key).and_then(parse_maxspeed).or(both);
    [one("maxspeed:forward"), one("maxspeed:backward")]
}

/// The number of a `maxspeed` value: `50`, `50 km/h`, `50 kmh`, `50 kph`, and
/// `30 mph` as 30 (the sign shows the number, whatever the unit). `None` for values
/// that are not one number (`none`, `signals`, `walk`, `FI:urban`, `50;30`) and
/// numbers outside 5..=200.
pub(crate) fn parse_maxspeed(value: &str) -> Option<u32> {
    let v = value.trim();
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return None;
    }
    let (number, unit) = v.split_at(digits);
    if !matches!(unit.trim(), "" | "km/h" | "kmh" | "kph" | "mph") {
        return None;
    }
    number.parse().ok().filter(|n| PLAUSIBLE_SPEED.contains(n))
}

/// Every class a node's tags place there (each class once, in a fixed order).
pub(crate) fn classify(tags: &[(&str, &str)]) -> Vec<NodeClass> {
    let mut out: Vec<NodeClass> = Vec::new();
    let mut add = |class, value, road_node_only| {
        if let Some(c) = out.iter_mut().find(|c: &&mut NodeClass| c.class == class) {
            c.value = c.value.or(value);
            c.road_node_only &= road_node_only;
        } else {
            out.push(NodeClass {
                class,
                value,
                road_node_only,
            });
        }
    };
    let highway = get(tags, "highway");
    match highway {
        Some("traffic_signals") => add(FeatureClass::TrafficLight, None, false),
        Some("stop") => add(FeatureClass::StopSign, None, false),
        Some("give_way") => add(FeatureClass::GiveWay, None, false),
        _ => {}
    }
    let crossing = get(tags, "crossing");
    let marked = matches!(
        crossing,
        Some("zebra" | "marked" | "uncontrolled" | "traffic_signals")
    ) || get(tags, "crossing_ref") == Some("zebra");
    let unmarked = matches!(crossing, Some("no" | "unmarked" | "informal"));
    if marked || (highway == Some("crossing") && !unmarked) {
        add(FeatureClass::PedestrianCrossing, None, true);
    }
    if get(tags, "emergency") == Some("fire_hydrant") {
        add(FeatureClass::FireHydrant, None, false);
    }
    let node_maxspeed = get(tags, "maxspeed").and_then(parse_maxspeed);
    for (k, v) in tags {
        if *k != "traffic_sign" && !k.starts_with("traffic_sign:") {
            continue;
        }
        for sign in v.split([';', ',']) {
            if let Some((class, value)) = sign_class(sign) {
                let value = if class == FeatureClass::SpeedLimit {
                    value.or(node_maxspeed)
                } else {
                    None
                };
                add(class, value, false);
            }
        }
    }
    out
}

/// The class and bracketed value of one sign of a `traffic_sign` value; see the
/// module docs for the words and codes.
fn sign_class(sign: &str) -> Option<(FeatureClass, Option<u32>)> {
    let sign = sign.trim();
    let (code, value) = match sign.split_once('[') {
        Some((code, rest)) => (code, rest.strip_suffix(']').and_then(parse_maxspeed)),
        None => (sign, None),
    };
    use FeatureClass as C;
    let class = match code.split_once(':') {
        None => match code {
            "give_way" | "yield" => C::GiveWay,
            "stop" => C::StopSign,
            "no_entry" => C::NoEntry,
            "no_left_turn" => C::NoLeftTurn,
            "no_right_turn" => C::NoRightTurn,
            "no_u_turn" => C::NoUTurn,
            "maxspeed" => C::SpeedLimit,
            "pedestrian_crossing" => C::PedestrianCrossing,
            _ => return None,
        },
        Some((country, code)) => {
            // The base code: `350-10` is a variant of 350, `274.1` the zone form of 274.
            let base = code.split(['-', '.']).next().unwrap_or(code);
            let base = if country == "US" { code } else { base };
            match (country, base) {
                ("FI", "B5" | "231") | ("DE", "205") | ("US", "R1-2") => C::GiveWay,
                ("FI", "B6" | "232") | ("DE", "206") | ("US", "R1-1") => C::StopSign,
                ("FI", "C16" | "331") | ("DE", "267") | ("US", "R5-1") => C::NoEntry,
                ("FI", "C17" | "332") | ("US", "R3-2") => C::NoLeftTurn,
                ("FI", "C18" | "333") | ("US", "R3-1") => C::NoRightTurn,
                ("FI", "C19" | "334") | ("DE", "272") | ("US", "R3-4") => C::NoUTurn,
                ("FI", "C32" | "361") | ("DE", "274") | ("US", "R2-1") => C::SpeedLimit,
                ("FI", "E1" | "511") | ("DE", "350") => C::PedestrianCrossing,
                _ => return None,
            }
        }
    };
    Some((class, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use FeatureClass as C;

    fn classes(tags: &[(&str, &str)]) -> Vec<(FeatureClass, Option<u32>)> {
        classify(tags).iter().map(|c| (c.class, c.value)).collect()
    }

    #[test]
    fn only_drivable_highways_become_roads_and_oneway_is_read() {
        assert_eq!(drivable(&[("highway", "residential")]), Some(Oneway::Both));
        assert_eq!(
            drivable(&[("highway", "primary"), ("oneway", "yes")]),
            Some(Oneway::Forward)
        );
        assert_eq!(
            drivable(&[("highway", "tertiary_link"), ("oneway", "-1")]),
            Some(Oneway::Backward)
        );
        assert_eq!(
            drivable(&[("highway", "secondary"), ("junction", "roundabout")]),
            Some(Oneway::Forward)
        );
        assert_eq!(drivable(&[("highway", "footway")]), None);
        assert_eq!(drivable(&[("highway", "cycleway")]), None);
        assert_eq!(drivable(&[("highway", "service"), ("area", "yes")]), None);
        assert_eq!(drivable(&[("building", "yes")]), None);
    }

    #[test]
    fn highway_and_emergency_nodes_have_their_own_classes() {
        assert_eq!(
            classes(&[("highway", "traffic_signals")]),
            [(C::TrafficLight, None)]
        );
        assert_eq!(classes(&[("highway", "stop")]), [(C::StopSign, None)]);
        assert_eq!(
            classes(&[("highway", "give_way")]),
            [(C::GiveWay, None)],
            "a give-way is no longer drawn as a stop sign"
        );
        assert_eq!(
            classes(&[
                ("emergency", "fire_hydrant"),
                ("fire_hydrant:type", "pillar")
            ]),
            [(C::FireHydrant, None)]
        );
        assert_eq!(classes(&[("highway", "street_lamp")]), []);
        assert_eq!(classes(&[("amenity", "parking")]), []);
    }

    #[test]
    fn marked_crossings_are_pedestrian_crossings_and_unmarked_ones_are_not() {
        for tags in [
            &[("highway", "crossing")][..],
            &[("highway", "crossing"), ("crossing", "zebra")],
            &[("highway", "crossing"), ("crossing", "traffic_signals")],
            &[("crossing", "marked")],
            &[("crossing", "uncontrolled"), ("footway", "crossing")],
            &[("highway", "crossing"), ("crossing_ref", "zebra")],
        ] {
            assert_eq!(classes(tags), [(C::PedestrianCrossing, None)], "{tags:?}");
        }
        for tags in [
            &[("highway", "crossing"), ("crossing", "unmarked")][..],
            &[("highway", "crossing"), ("crossing", "no")],
            &[("highway", "crossing"), ("crossing", "informal")],
            &[("railway", "crossing")],
        ] {
            assert_eq!(classes(tags), [], "{tags:?}");
        }
    }

    #[test]
    fn finnish_codes_old_and_new_are_read() {
        let one = |v| classes(&[("traffic_sign", v)]);
        assert_eq!(one("FI:231"), [(C::GiveWay, None)]);
        assert_eq!(one("FI:B5"), [(C::GiveWay, None)]);
        assert_eq!(one("FI:232"), [(C::StopSign, None)]);
        assert_eq!(one("FI:B6"), [(C::StopSign, None)]);
        assert_eq!(one("FI:331"), [(C::NoEntry, None)]);
        assert_eq!(one("FI:C16"), [(C::NoEntry, None)]);
        assert_eq!(one("FI:332"), [(C::NoLeftTurn, None)]);
        assert_eq!(one("FI:C18"), [(C::NoRightTurn, None)]);
        assert_eq!(one("FI:334"), [(C::NoUTurn, None)]);
        assert_eq!(one("FI:511"), [(C::PedestrianCrossing, None)]);
        assert_eq!(one("FI:E1"), [(C::PedestrianCrossing, None)]);
        assert_eq!(one("FI:C32[40]"), [(C::SpeedLimit, Some(40))]);
        assert_eq!(one("FI:361[30]"), [(C::SpeedLimit, Some(30))]);
        // Parking and no-stopping signs are not drawn.
        assert_eq!(one("FI:372"), []);
        assert_eq!(one("FI:371"), []);
        assert_eq!(one("FI:521"), []);
    }

    #[test]
    fn several_signs_on_one_node_give_one_feature_per_class() {
        assert_eq!(
            classes(&[("traffic_sign:forward", "FI:232;FI:361[50]")]),
            [(C::StopSign, None), (C::SpeedLimit, Some(50))]
        );
        assert_eq!(
            classes(&[
                ("traffic_sign", "DE:274[30],1020-30"),
                ("highway", "give_way")
            ]),
            [(C::GiveWay, None), (C::SpeedLimit, Some(30))]
        );
        assert_eq!(
            classes(&[("traffic_sign", "DE:206"), ("highway", "stop")]),
            [(C::StopSign, None)]
        );
    }

    #[test]
    fn german_us_and_generic_signs_are_read() {
        let one = |v| classes(&[("traffic_sign", v)]);
        assert_eq!(one("DE:205"), [(C::GiveWay, None)]);
        assert_eq!(one("DE:206"), [(C::StopSign, None)]);
        assert_eq!(one("DE:267"), [(C::NoEntry, None)]);
        assert_eq!(one("DE:272"), [(C::NoUTurn, None)]);
        assert_eq!(one("DE:274[50]"), [(C::SpeedLimit, Some(50))]);
        assert_eq!(one("DE:274.1"), [(C::SpeedLimit, None)]);
        assert_eq!(one("DE:350-10"), [(C::PedestrianCrossing, None)]);
        assert_eq!(
            one("DE:209-10"),
            [],
            "mandatory directions are not turn bans"
        );
        assert_eq!(one("US:R1-1"), [(C::StopSign, None)]);
        assert_eq!(one("US:R3-2"), [(C::NoLeftTurn, None)]);
        assert_eq!(one("US:R1"), []);
        assert_eq!(one("stop"), [(C::StopSign, None)]);
        assert_eq!(one("give_way"), [(C::GiveWay, None)]);
        assert_eq!(one("no_entry"), [(C::NoEntry, None)]);
        assert_eq!(one("no_u_turn"), [(C::NoUTurn, None)]);
        assert_eq!(one("city_limit"), []);
        assert_eq!(one("SE:B1"), [], "codes of other countries are not guessed");
    }

    #[test]
    fn a_speed_sign_without_brackets_takes_the_node_maxspeed() {
        assert_eq!(
            classes(&[("traffic_sign", "maxspeed"), ("maxspeed", "60")]),
            [(C::SpeedLimit, Some(60))]
        );
        assert_eq!(
            classes(&[("traffic_sign", "FI:C32[40]"), ("maxspeed", "60")]),
            [(C::SpeedLimit, Some(40))],
            "the sign's own figure wins"
        );
        assert_eq!(
            classes(&[("traffic_sign", "FI:C32")]),
            [(C::SpeedLimit, None)]
        );
    }

    #[test]
    fn maxspeed_values_are_numbers_with_an_optional_unit() {
        assert_eq!(parse_maxspeed("50"), Some(50));
        assert_eq!(parse_maxspeed(" 40 "), Some(40));
        assert_eq!(parse_maxspeed("30 km/h"), Some(30));
        assert_eq!(parse_maxspeed("80kmh"), Some(80));
        assert_eq!(parse_maxspeed("50 mph"), Some(50));
        assert_eq!(parse_maxspeed("120"), Some(120));
        for bad in [
            "none",
            "signals",
            "walk",
            "FI:urban",
            "DE:zone30",
            "50;30",
            "30 knots",
            "2",
            "900",
            "",
            "-30",
            "50.5",
        ] {
            assert_eq!(parse_maxspeed(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_way_limit_can_differ_by_direction() {
        assert_eq!(way_maxspeed(&[("maxspeed", "40")]), [Some(40), Some(40)]);
        assert_eq!(
            way_maxspeed(&[("maxspeed", "50"), ("maxspeed:backward", "30")]),
            [Some(50), Some(30)]
        );
        assert_eq!(
            way_maxspeed(&[("maxspeed:forward", "60")]),
            [Some(60), None]
        );
        assert_eq!(way_maxspeed(&[("maxspeed", "none")]), [None, None]);
    }
}
