//! Envelopes: the same verdict whatever shape a record travels in.
//!
//! Every file in `../shared/data/cloudtrail/fixtures/envelopes/` gives what its
//! `expectations.json` says, wherever the record sits in the output, with the envelope kept and
//! with `unwrap`; and the 100 labelled cases, rewrapped into every shape trailtag reads, give the
//! detection ids they give bare.
#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use trailtag_conformance as data;
use trailtag_engine::framing::to_one_line;
use trailtag_engine::{BatchReport, Detector, Options, Scratch};

fn tag(input: &[u8], options: &Options) -> (Vec<u8>, BatchReport) {
    let detector = Detector::builtin().unwrap();
    let mut out = Vec::new();
    let report = detector.transform_ndjson(input, options, &mut Scratch::default(), &mut out);
    (out, report)
}

fn unwrap() -> Options {
    Options {
        unwrap: true,
        ..Options::default()
    }
}

#[test]
fn every_envelope_fixture_gives_its_expectations_kept_and_unwrapped() {
    let expectations = data::envelope_expectations();
    assert!(expectations.len() >= 11, "the fixtures are all there");
    for (file, expectation) in &expectations {
        let document = data::read_maybe_gzip(&data::envelopes_dir().join(file));
        let line = to_one_line(&document);
        let expected = data::expected_records(expectation);
        let (kept, report) = tag(&line, &Options::default());
        assert_eq!(data::records_in_output(&kept), expected, "{file}, kept");
        assert_eq!(
            report.counts.unreadable + report.counts.unreadable_inside,
            0,
            "{file}"
        );
        assert_eq!(
            report.counts.cloudtrail_events as usize,
            expected.len(),
            "{file}"
        );
        assert_eq!(
            kept.iter().filter(|&&b| b == b'\n').count(),
            1,
            "{file}: one envelope in, one line out"
        );
        let (unwrapped, _) = tag(&line, &unwrap());
        assert_eq!(
            data::records_in_output(&unwrapped),
            expected,
            "{file}, unwrapped"
        );
        assert_eq!(
            unwrapped.iter().filter(|&&b| b == b'\n').count(),
            expected
                .len()
                .max(usize::from(expected.is_empty() && !file.contains("empty"))),
            "{file}: unwrapped, one record per line"
        );
    }
}

#[test]
fn an_envelope_with_no_match_leaves_byte_for_byte() {
    let records: Vec<String> = data::cases()
        .into_iter()
        .filter(|c| c.expect.is_empty())
        .map(|c| c.record)
        .take(5)
        .collect();
    for envelope in wrappings(&records) {
        let input = format!("{envelope}\n");
        let (out, report) = tag(input.as_bytes(), &Options::default());
        assert_eq!(out, input.as_bytes(), "{envelope}");
        let inside = data::records_in_output(input.as_bytes()).len() as u64;
        assert!(inside > 0, "{envelope}");
        assert_eq!(report.counts.events, inside, "{envelope}");
        assert_eq!(report.counts.cloudtrail_events, inside, "{envelope}");
    }
}

#[test]
fn the_labelled_cases_give_the_same_ids_in_every_shape() {
    let cases = data::cases();
    let bare: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            let (out, _) = tag(format!("{}\n", c.record).as_bytes(), &Options::default());
            data::detection_ids(&out)
        })
        .collect();
    let mut shapes_checked = 0;
    for (case, expected) in cases.iter().zip(&bare) {
        assert_eq!(&case.expect, expected, "{}: bare", case.id);
        if data::records_in_output(case.record.as_bytes()).is_empty() {
            continue; // not a CloudTrail record (a digest file): nothing to find inside
        }
        for envelope in wrappings(std::slice::from_ref(&case.record)) {
            for options in [Options::default(), unwrap()] {
                let (out, report) = tag(format!("{envelope}\n").as_bytes(), &options);
                let found = data::records_in_output(&out);
                assert_eq!(
                    found,
                    std::slice::from_ref(expected),
                    "{}: {envelope}",
                    case.id
                );
                assert_eq!(report.counts.events, 1, "{}: {envelope}", case.id);
                shapes_checked += 1;
            }
        }
    }
    assert!(
        shapes_checked >= 95 * 2 * 12,
        "{shapes_checked} rewrapped cases checked"
    );
}

/// `records` in every shape trailtag reads, each as one line.
fn wrappings(records: &[String]) -> Vec<String> {
    let quoted: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let cwl = format!(
        r#"{{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"trail","logStream":"s","subscriptionFilters":["f"],"logEvents":[{}]}}"#,
        quoted
            .iter()
            .enumerate()
            .map(|(i, q)| format!(r#"{{"id":"{i}","timestamp":1,"message":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    );
    let firehose = |datas: Vec<String>| {
        format!(
            r#"{{"invocationId":"inv","deliveryStreamArn":"arn:aws:firehose:us-east-1:1:deliverystream/d","region":"us-east-1","records":[{}]}}"#,
            datas
                .iter()
                .enumerate()
                .map(|(i, d)| format!(
                    r#"{{"recordId":"{i}","approximateArrivalTimestamp":1,"data":"{d}"}}"#
                ))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let mut out = Vec::new();
    for (record, q) in records.iter().zip(&quoted) {
        out.push(format!(
            r#"{{"version":"0","id":"e","detail-type":"AWS API Call via CloudTrail","source":"aws.iam","account":"1","time":"t","region":"us-east-1","resources":[],"detail":{record}}}"#
        ));
        out.push(format!(
            r#"{{"time":1,"host":"h","sourcetype":"aws:cloudtrail","event":{record}}}"#
        ));
        out.push(format!(
            r#"{{"time":1,"sourcetype":"aws:cloudtrail","event":{q}}}"#
        ));
        let log = serde_json::to_string(&format!("\u{feff}{record}\n")).unwrap();
        out.push(format!(r#"{{"log":{log},"stream":"stdout","time":"t"}}"#));
        out.push(format!(r#"{{"host":"h","message":{q}}}"#));
        out.push(format!(
            r#"{{"Events":[{{"EventId":"1","EventName":"x","CloudTrailEvent":{q}}}]}}"#
        ));
    }
    let sqs: Vec<String> = quoted
        .iter()
        .enumerate()
        .map(|(i, q)| format!(r#"{{"messageId":"{i}","body":{q},"eventSource":"aws:sqs","awsRegion":"us-east-1"}}"#))
        .collect();
    out.push(format!(r#"{{"Records":[{}]}}"#, sqs.join(",")));
    let sns: Vec<String> = quoted
        .iter()
        .map(|q| format!(r#"{{"EventSource":"aws:sns","EventVersion":"1.0","Sns":{{"Type":"Notification","Message":{q}}}}}"#))
        .collect();
    out.push(format!(r#"{{"Records":[{}]}}"#, sns.join(",")));
    let kinesis: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                r#"{{"kinesis":{{"partitionKey":"p","data":"{}"}},"eventSource":"aws:kinesis"}}"#,
                STANDARD.encode(r)
            )
        })
        .collect();
    out.push(format!(r#"{{"Records":[{}]}}"#, kinesis.join(",")));
    let joined = records.join(",");
    out.push(format!(r#"{{"Records":[{joined}]}}"#));
    out.push(format!("[{joined}]"));
    out.push(cwl.clone());
    let cwl_gzip = STANDARD.encode(gzip(cwl.as_bytes()));
    out.push(format!(r#"{{"awslogs":{{"data":"{cwl_gzip}"}}}}"#));
    out.push(firehose(
        records
            .iter()
            .map(|r| STANDARD.encode(format!("{r}\n")))
            .collect(),
    ));
    out.push(firehose(vec![cwl_gzip]));
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn the_labelled_cases_give_the_same_ids_as_ecs_and_ocsf_documents() {
    let mut checked = 0;
    for case in data::cases() {
        let record: serde_json::Value = serde_json::from_str(&case.record).unwrap();
        if !record["eventSource"].is_string() {
            continue; // an ECS document without event.provider is no ECS document of CloudTrail
        }
        let root = trailtag_engine::json::Json::parse(case.record.as_bytes()).unwrap();
        let ecs = trailtag_engine::ecs::document(&root);
        let mut with_original = ecs.clone();
        with_original["event"]["original"] = case.record.clone().into();
        for (name, document) in [
            ("ecs", ecs),
            ("ecs with event.original", with_original),
            ("ocsf", to_ocsf(&record)),
        ] {
            let line = format!("{}\n", serde_json::to_string(&document).unwrap());
            let (out, report) = tag(line.as_bytes(), &Options::default());
            let tagged: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let ids = data::detection_ids(&serde_json::to_vec(&tagged).unwrap());
            assert_eq!(ids, case.expect, "{}: {name}: {line}", case.id);
            assert_eq!(report.counts.cloudtrail_events, 1, "{}: {name}", case.id);
            let mut untagged = tagged;
            untagged.as_object_mut().unwrap().remove("trailtag");
            assert_eq!(
                untagged, document,
                "{}: {name}: only the tag is added",
                case.id
            );
            checked += 1;
        }
    }
    assert!(checked >= 95 * 3, "{checked} documents checked");
}

/// A raw record as Security Lake writes it: OCSF 1.1.0 API Activity (class 6003), following the
/// published CloudTrail mapping (`rules-and-fields.md` §6.5); unmapped members under `unmapped`.
fn to_ocsf(record: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut ocsf = json!({
        "class_uid": 6003, "category_uid": 6, "severity_id": 1,
        "metadata": {"product": {"name": "CloudTrail", "vendor_name": "AWS"}, "version": "1.1.0"},
        "cloud": {"provider": "AWS"},
    });
    let mapping: &[(&str, &str)] = &[
        ("eventSource", "api.service.name"),
        ("eventName", "api.operation"),
        ("errorCode", "api.response.error"),
        ("errorMessage", "api.response.message"),
        ("requestParameters", "api.request.data"),
        ("responseElements", "api.response.data"),
        ("requestID", "api.request.uid"),
        ("apiVersion", "api.version"),
        ("userIdentity.type", "actor.user.type"),
        ("userIdentity.arn", "actor.user.uid"),
        ("userIdentity.principalId", "actor.user.uid_alt"),
        ("userIdentity.userName", "actor.user.name"),
        ("userIdentity.accountId", "actor.user.account.uid"),
        ("userIdentity.accessKeyId", "actor.user.credential_uid"),
        ("userIdentity.invokedBy", "actor.invoked_by"),
        (
            "userIdentity.sessionContext.sessionIssuer.arn",
            "actor.session.issuer",
        ),
        ("sourceIPAddress", "src_endpoint.ip"),
        ("vpcEndpointId", "src_endpoint.uid"),
        ("userAgent", "http_request.user_agent"),
        ("awsRegion", "cloud.region"),
        ("eventTime", "time_dt"),
        ("eventID", "metadata.uid"),
        ("eventVersion", "metadata.product.version"),
        ("eventType", "metadata.event_code"),
        ("eventCategory", "metadata.product.feature.name"),
    ];
    let mut mapped = std::collections::BTreeSet::new();
    for (raw, path) in mapping {
        let Some(value) = raw.split('.').try_fold(record, |v, k| v.get(k)) else {
            continue;
        };
        let (raw_top, path) = (raw.split('.').next().unwrap(), path.to_string());
        mapped.insert(raw_top.to_owned());
        let mut node = &mut ocsf;
        for key in path.split('.') {
            node = node
                .as_object_mut()
                .unwrap()
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *node = value.clone();
    }
    let mut unmapped = Map::new();
    for (key, value) in record.as_object().unwrap() {
        if !mapped.contains(key) {
            unmapped.insert(key.clone(), value.clone());
        }
    }
    if let Some(identity) = record.get("userIdentity").and_then(Value::as_object) {
        for (key, value) in identity {
            let known = [
                "type",
                "arn",
                "principalId",
                "userName",
                "accountId",
                "accessKeyId",
                "invokedBy",
            ];
            if !known.contains(&key.as_str()) {
                unmapped.insert(format!("userIdentity.{key}"), value.clone());
            }
        }
    }
    unmapped.remove("userIdentity");
    ocsf["unmapped"] = Value::Object(unmapped);
    ocsf
}

/// The fast path inside envelopes: whatever the shape, each record inside gets the detections
/// the full evaluation (no scan, every rule) gives it bare.
mod fast_path_inside_envelopes {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn corpus() -> &'static [(String, Vec<String>)] {
        static CORPUS: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
        CORPUS.get_or_init(|| {
            let detector = Detector::builtin().unwrap();
            let mut scratch = Scratch::default();
            data::corpus_records()
                .into_iter()
                .chain(data::cases().into_iter().map(|c| c.record.into_bytes()))
                .filter(|r| !data::records_in_output(r).is_empty())
                .map(|record| {
                    let mut out = Vec::new();
                    detector.tag_record_exhaustively(&record, &mut scratch, &mut out);
                    (
                        String::from_utf8(record).unwrap(),
                        data::detection_ids(&out),
                    )
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn each_record_gets_the_full_evaluations_detections(
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
            shape in any::<prop::sample::Index>(),
        ) {
            let corpus = corpus();
            let chosen: Vec<&(String, Vec<String>)> = picks.iter().map(|i| i.get(corpus)).collect();
            // Every shape, each record wrapped alone, the envelopes in one array: nesting too.
            let wrapped: Vec<Vec<String>> = chosen
                .iter()
                .map(|(r, _)| wrappings(std::slice::from_ref(r)))
                .collect();
            let shape = shape.index(wrapped[0].len());
            let envelope = format!(
                "[{}]",
                wrapped.iter().map(|w| w[shape].as_str()).collect::<Vec<_>>().join(",")
            );
            let (out, _) = tag(format!("{envelope}\n").as_bytes(), &Options::default());
            let found = data::records_in_output(&out);
            let expected: Vec<Vec<String>> = chosen.iter().map(|(_, ids)| ids.clone()).collect();
            prop_assert_eq!(found, expected, "{}", envelope);
        }
    }
}

#[test]
fn a_forced_shape_is_read_whatever_the_record_looks_like() {
    let group = data::cases()
        .into_iter()
        .find(|c| c.expect == ["iam_group_created"])
        .unwrap()
        .record;
    let forced = |shape: &str| Options {
        input_shape: trailtag_engine::envelope::Shape::forced(shape),
        ..Options::default()
    };
    // An EventBridge event without `detail-type` (a producer that drops it) is not recognised,
    // but read as one when forced.
    let line = format!("{{\"detail\":{group}}}\n");
    let (out, _) = tag(line.as_bytes(), &Options::default());
    assert_eq!(out, line.as_bytes(), "not recognised");
    let (out, report) = tag(line.as_bytes(), &forced("eventbridge"));
    assert_eq!(
        data::records_in_output(&out),
        [vec!["iam_group_created".to_owned()]]
    );
    assert_eq!(report.counts.envelopes_by_shape()["eventbridge"], 1);
    // Forced to be a record, an envelope is decided as one (and its record is not found).
    let line = format!("{{\"detail-type\":\"x\",\"detail\":{group}}}\n");
    let (out, report) = tag(line.as_bytes(), &forced("record"));
    assert_eq!(out, line.as_bytes());
    assert_eq!(report.counts.cloudtrail_events, 0);
    assert!(trailtag_engine::envelope::Shape::forced("nonsense").is_none());
}

#[test]
fn every_prefix_of_every_shape_passes_through_without_a_panic() {
    let record = data::cases()
        .into_iter()
        .find(|c| c.expect == ["iam_group_created"])
        .unwrap()
        .record;
    let detector = Detector::builtin().unwrap();
    let mut scratch = Scratch::default();
    for envelope in wrappings(&[record.clone(), record]) {
        let bytes = envelope.as_bytes();
        for end in (0..bytes.len()).step_by(3) {
            for options in [Options::default(), unwrap()] {
                let mut out = Vec::new();
                let report =
                    detector.transform_ndjson(&bytes[..end], &options, &mut scratch, &mut out);
                assert_eq!(
                    report.counts.records_in,
                    u64::from(end > 0 && !bytes[..end].iter().all(u8::is_ascii_whitespace))
                );
            }
        }
    }
}

#[test]
fn an_ecs_document_of_another_dataset_is_not_counted_as_cloudtrail() {
    let app_log = r#"{"@timestamp":"2024-01-01T00:00:00Z","event":{"action":"login","dataset":"app.auth"},"message":"ok"}"#;
    let (out, report) = tag(format!("{app_log}\n").as_bytes(), &Options::default());
    assert_eq!(out, format!("{app_log}\n").as_bytes(), "left as it came");
    assert_eq!(report.counts.envelopes_by_shape()["ecs"], 1);
    assert_eq!(
        (report.counts.events, report.counts.cloudtrail_events),
        (1, 0),
        "read, but not CloudTrail"
    );
}
