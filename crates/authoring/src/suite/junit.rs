//! JUnit XML for CI systems (GitLab, Jenkins, GitHub test reporters).

use std::fmt::Write;

use super::{Outcome, SuiteReport};

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(reports: &[SuiteReport]) -> String {
    let tests: usize = reports
        .iter()
        .map(|r| r.cases.len() + usize::from(r.error.is_some()))
        .sum();
    let failures: usize = reports.iter().map(SuiteReport::failed).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"kbind test\" tests=\"{tests}\" failures=\"{failures}\">"
    );
    for report in reports {
        let time: f64 = report.cases.iter().map(|c| c.elapsed.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{time:.6}\" file=\"{}\">",
            escape(&report.name),
            report.cases.len() + usize::from(report.error.is_some()),
            report.failed(),
            escape(&report.file.display().to_string())
        );
        if let Some(error) = &report.error {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{0}\" name=\"(suite)\"><failure message=\"{1}\">{1}</failure></testcase>",
                escape(&report.name),
                escape(error)
            );
        }
        for case in &report.cases {
            let open = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
                escape(&report.name),
                escape(&case.name),
                case.elapsed.as_secs_f64()
            );
            match &case.outcome {
                Outcome::Passed => {
                    let _ = writeln!(xml, "{open}/>");
                }
                Outcome::Failed(detail) => {
                    let first = detail.lines().next().unwrap_or_default();
                    let _ = writeln!(
                        xml,
                        "{open}><failure message=\"{}\">{}</failure></testcase>",
                        escape(first),
                        escape(detail)
                    );
                }
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}
