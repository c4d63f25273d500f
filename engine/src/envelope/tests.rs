#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
use super::*;

fn shape(doc: &str) -> Shape {
    classify(doc.as_bytes())
}

#[test]
fn records_are_told_from_envelopes_by_their_members() {
    assert_eq!(
        shape(r#"{"eventVersion":"1.08"}"#),
        Shape::Record { cloudtrail: true }
    );
    assert_eq!(
        shape(r#"{"awsRegion":"x","eventName":"A"}"#),
        Shape::Record { cloudtrail: true }
    );
    assert_eq!(
        shape(r#"{"digestStartTime":"x"}"#),
        Shape::Record { cloudtrail: false }
    );
    assert_eq!(
        shape(r#"{"detail-type":"AWS API Call via CloudTrail","detail":{}}"#),
        Shape::EventBridge
    );
    assert_eq!(
        shape(r#"{"awslogs":{"data":"H4sI"}}"#),
        Shape::CloudWatchLogsLambda
    );
    assert_eq!(
        shape(r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#),
        Shape::CloudWatchLogs
    );
    assert_eq!(
        shape(r#"{"invocationId":"i","records":[]}"#),
        Shape::Firehose
    );
    assert_eq!(
        shape(r#"{"records":[{"recordId":"1","result":"Ok","data":""}]}"#),
        Shape::Firehose
    );
    assert_eq!(shape(r#"{"Records":[]}"#), Shape::S3Records);
    assert_eq!(
        shape(r#"{"Events":[{"CloudTrailEvent":"{}"}]}"#),
        Shape::LookupEvents
    );
    assert_eq!(
        shape(r#"{"Events":[{"other":1}]}"#),
        Shape::Record { cloudtrail: false }
    );
    assert_eq!(
        shape(r#"{"time":1,"sourcetype":"aws:cloudtrail","event":{}}"#),
        Shape::SplunkHec
    );
    assert_eq!(shape(r#"{"event":{"provider":"x"},"host":{}}"#), Shape::Ecs);
    assert_eq!(shape(r#"{"event.action":"x"}"#), Shape::Ecs);
    assert_eq!(
        shape(r#"{"class_uid":6003,"api":{"operation":"x"}}"#),
        Shape::Ocsf
    );
    assert_eq!(
        shape(r#"{"event":{"kind":"x"}}"#),
        Shape::Record { cloudtrail: false }
    );
    assert_eq!(
        shape(r#"{"log":"{\"a\":1}\n","stream":"stdout"}"#),
        Shape::ShipperField
    );
    assert_eq!(shape(r#"{"log":"\ufeff{\"a\":1}"}"#), Shape::ShipperField);
    assert_eq!(
        shape("{\"message\":\"\u{feff} {\\\"a\\\":1}\"}"),
        Shape::ShipperField
    );
    assert_eq!(
        shape(r#"{"log":"plain text"}"#),
        Shape::Record { cloudtrail: false }
    );
    assert_eq!(shape(r#" [ {"eventVersion":"1"} ]"#), Shape::Array);
    assert_eq!(
        shape(r#"{"messageId":"m","body":"{}","eventSource":"aws:sqs"}"#),
        Shape::LambdaRecord
    );
    assert_eq!(
        shape(r#"{"EventSource":"aws:sns","Sns":{"Message":"{}"}}"#),
        Shape::LambdaRecord
    );
    assert_eq!(
        shape(r#"{"eventSource":"iam.amazonaws.com"}"#),
        Shape::Record { cloudtrail: true }
    );
    assert_eq!(shape("not json"), Shape::Record { cloudtrail: false });
    assert_eq!(shape("[1,2]"), Shape::Record { cloudtrail: false });
    assert_eq!(shape("[ ]"), Shape::Record { cloudtrail: false });
}

#[test]
fn slots_point_at_each_record_in_its_encoding() {
    let doc = br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"{\"a\":1}"},{"id":"2","message":"{}"}]}"#;
    let found = slots(doc, Shape::CloudWatchLogs);
    let texts: Vec<&[u8]> = found.iter().map(|s| &doc[s.span.clone()]).collect();
    assert_eq!(texts, [&br#""{\"a\":1}""#[..], br#""{}""#]);
    assert!(found.iter().all(|s| s.encoding == Encoding::JsonString));

    let doc = br#"[ {"a":1} , 2,{"b":[3]}]"#;
    let texts: Vec<&[u8]> = slots(doc, Shape::Array)
        .iter()
        .map(|s| &doc[s.span.clone()])
        .collect();
    assert_eq!(texts, [&br#"{"a":1}"#[..], b"2", br#"{"b":[3]}"#]);
}

#[test]
fn a_string_slot_is_written_back_with_its_surroundings() {
    let doc = br#"{"log":"\ufeff{\"a\":1}\n"}"#;
    let slot = &slots(doc, Shape::ShipperField)[0];
    let opened = Opened::decode(doc, slot).unwrap();
    assert_eq!(opened.document(), br#"{"a":1}"#);
    let mut out = Vec::new();
    opened.encode(br#"{"a":1,"t":"x"}"#, &mut out);
    let back: String = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, "\u{feff}{\"a\":1,\"t\":\"x\"}\n");
}

#[test]
fn a_gzip_base64_slot_round_trips() {
    use base64::Engine;
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"{\"logEvents\":[]}").unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let doc = format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#);
    let slot = &slots(doc.as_bytes(), Shape::CloudWatchLogsLambda)[0];
    let opened = Opened::decode(doc.as_bytes(), slot).unwrap();
    assert_eq!(opened.document(), b"{\"logEvents\":[]}");
    let mut out = Vec::new();
    opened.encode(b"{\"logEvents\":[1]}", &mut out);
    let again = format!(r#"{{"data":{}}}"#, String::from_utf8(out).unwrap());
    let reopened = Opened::decode(
        again.as_bytes(),
        &Slot {
            span: 8..again.len() - 1,
            encoding: Encoding::Base64,
        },
    )
    .unwrap();
    assert_eq!(reopened.document(), b"{\"logEvents\":[1]}");
}

#[test]
fn undecodable_slots_say_why() {
    let doc = br#"{"awslogs":{"data":"%%%"}}"#;
    let slot = &slots(doc, Shape::CloudWatchLogsLambda)[0];
    assert!(Opened::decode(doc, slot).unwrap_err().contains("base64"));
    let doc = br#"{"awslogs":{"data":"H4sIAAAA"}}"#;
    let slot = &slots(doc, Shape::CloudWatchLogsLambda)[0];
    assert!(Opened::decode(doc, slot).unwrap_err().contains("gzip"));
}
