//! The campaign's page: one HTML file a team lead opens offline or prints. In order: who to
//! follow up, consent progress (a table per school and year group, a chart of the days with
//! its numbers as a table), parents' replies, then what was sent. Accessible: headings in
//! order, every table header scoped, every code beside its words, colour never the only cue
//! (the chart's two series are two labelled panels), a print stylesheet. No scripts, no links,
//! nothing loaded from elsewhere; never an address.

use std::fmt::Write as _;

use super::progress::{DayActivity, ProgressCounts};
use super::words::{channel_in_words, reason_in_words, status_label};
use super::{CampaignReport, FAILED, FollowUpEntry, Reply, Summary};

const STYLE: &str = r#"
:root{--text:#0b0c0c;--muted:#505a5f;--line:#b1b4b6;--pale:#f3f2f1;--blue:#1d70b8;--green:#00703c;--red:#d4351c}
*{box-sizing:border-box}
body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;color:var(--text);line-height:1.4;margin:0 auto;padding:1.5rem 2rem 3rem;max-width:72rem;font-size:1rem}
h1{font-size:2rem;margin:.2rem 0 .6rem}
h2{font-size:1.5rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:2px solid var(--line)}
h3{font-size:1.2rem;margin:1.6rem 0 .5rem}
p{margin:.4rem 0 .8rem;max-width:48rem}
.team{color:var(--muted);font-size:1.1em;margin:0}
.glance{display:flex;flex-wrap:wrap;gap:.8rem;list-style:none;padding:0;margin:1rem 0;max-width:56rem}
.glance li{border:1px solid var(--line);border-left:6px solid var(--blue);padding:.5rem .9rem;min-width:10rem;flex:1 1 0;background:#fff}
.glance li.alert{border-left-color:var(--red)}
.glance strong{display:block;font-size:1.8rem;line-height:1.1}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
caption{text-align:left;font-weight:bold;padding:.3rem 0;font-size:1.05em}
th,td{border-bottom:1px solid var(--line);padding:.45rem .6rem;text-align:left;vertical-align:top}
thead th{background:var(--pale);border-bottom:2px solid var(--text)}
tfoot th,tfoot td{border-top:2px solid var(--text);font-weight:bold}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:Menlo,Consolas,monospace;font-size:.85em;color:var(--muted);background:var(--pale);padding:0 .25rem;display:inline-block;white-space:nowrap}
.small{font-size:.85em;color:var(--muted);font-weight:normal}
.follow-up{border-left:6px solid var(--red);padding-left:1rem}
.nowrap{white-space:nowrap}
.plain tbody th{font-weight:normal}
.vh{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);border:0;white-space:nowrap}
ul.tried{margin:0;padding-left:1.1rem}
ul.tried li{margin-bottom:.25rem}
.tag{display:inline-block;font-size:.8em;font-weight:bold;padding:0 .35rem;border:1px solid currentColor;text-transform:uppercase;letter-spacing:.02em}
.tag.bad{color:var(--red)}
.tag.good{color:var(--green)}
.tag.wait{color:var(--muted)}
.text{white-space:pre-wrap;overflow-wrap:anywhere;max-width:30rem}
figure{margin:.5rem 0 1rem}
figcaption{color:var(--muted);font-size:.9em}
svg{max-width:100%;height:auto}
.ok{border-left:6px solid var(--green);padding:.4rem .8rem;background:var(--pale)}
footer{margin-top:2.5rem;color:var(--muted)}
@page{size:A4;margin:12mm}
#follow-up-list{table-layout:fixed}
#follow-up-list thead th:nth-child(1){width:17%}
#follow-up-list thead th:nth-child(2){width:13%}
#follow-up-list thead th:nth-child(3){width:8%}
#follow-up-list thead th:nth-child(4){width:8%}
#follow-up-list thead th:nth-child(5){width:21%}
#follow-up-list thead th:nth-child(6){width:33%}
@media print{
body{padding:0;max-width:none;font-size:9pt}
th,td{padding:.3rem .4rem}
.glance{flex-wrap:nowrap}
.glance li{min-width:0;padding:.3rem .6rem}
.glance strong{font-size:1.4rem}
h2{break-after:avoid;page-break-after:avoid}
h3,caption{break-after:avoid;page-break-after:avoid}
tr,li,figure{break-inside:avoid;page-break-inside:avoid}
thead{display:table-header-group}
tfoot{display:table-row-group}
.glance li{border-width:1px 1px 1px 4px}
.follow-up{border-left-width:3px}
code{background:none}
.nowrap{white-space:normal}
}
"#;

/// HTML-escapes text for an element or an attribute.
pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2026-11-12` → (12, "November", 2026), when it is a date.
fn date_parts(iso: &str) -> Option<(u32, &'static str, &str)> {
    let (year, rest) = iso.get(..10)?.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let month: usize = month.parse().ok()?;
    Some((day.parse().ok()?, MONTHS.get(month.checked_sub(1)?)?, year))
}

/// "12 November 2026".
pub(super) fn long_date(iso: &str) -> String {
    date_parts(iso).map_or_else(|| iso.to_owned(), |(d, m, y)| format!("{d} {m} {y}"))
}

/// "12 Nov".
fn short_date(iso: &str) -> String {
    date_parts(iso).map_or_else(|| iso.to_owned(), |(d, m, _)| format!("{d} {}", &m[..3]))
}

/// "12 November 2026, 10:00 UTC" from an RFC 3339 time.
fn long_time(at: &str) -> String {
    match at.get(11..16) {
        Some(hm) if hm.as_bytes().get(2) == Some(&b':') => {
            format!("{}, {hm} UTC", long_date(at))
        }
        _ => long_date(at),
    }
}

fn year_label(year: Option<u8>) -> String {
    match year {
        Some(0) => "Reception".to_owned(),
        Some(y) => format!("Year {y}"),
        None => "Not given".to_owned(),
    }
}

fn programme_name(code: &str) -> &str {
    match code {
        "hpv" => "HPV",
        "flu" => "Flu",
        "menacwy" => "MenACWY",
        "td_ipv" => "Td/IPV",
        "mmr" => "MMR",
        other => other,
    }
}

/// A code's meaning, then the code itself for those who look it up.
fn code_with_words(code: &str) -> String {
    format!("{} <code>{}</code>", esc(reason_in_words(code)), esc(code))
}

/// A status as a tag whose words say what the colour says.
fn status_tag(status: &str) -> String {
    let (class, label) = if FAILED.contains(&status) {
        ("bad", "Failed")
    } else if matches!(status, "delivered" | "received" | "accepted") {
        ("good", "Reached")
    } else {
        ("wait", "Waiting")
    };
    format!(r#"<span class="tag {class}">{label}</span>"#)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The whole page.
pub(super) fn render(report: &CampaignReport) -> String {
    let s = &report.summary;
    let mut body = String::new();
    header(&mut body, report);
    follow_up(&mut body, report);
    progress(&mut body, s);
    replies(&mut body, report);
    sent(&mut body, s);
    footer(&mut body, s);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Campaign report: {id} ({team})</title>
<style>{STYLE}</style>
</head>
<body>
{body}</body>
</html>
"#,
        id = esc(&s.campaign_id),
        team = esc(&s.team),
    )
}

fn header(out: &mut String, report: &CampaignReport) {
    let s = &report.summary;
    let sessions: Vec<String> = s.sessions.iter().map(|d| long_date(d)).collect();
    let years = if s.year_groups.is_empty() {
        "every year group".to_owned()
    } else {
        s.year_groups
            .iter()
            .map(|y| year_label(Some(*y)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let t = &s.consent_progress.totals;
    let _ = write!(
        out,
        r#"<header>
<p class="team">Team {team} · {programme}</p>
<h1>Campaign report: {id}</h1>
<p>{programme} for {years} at {schools}. {sessions_label}: {sessions}. Consent deadline: {deadline}.</p>
<p class="small">Made {at} from the service's records. Nothing on this page is an address.</p>
<ul class="glance">
<li class="{alert}"><strong>{follow_up}</strong> to follow up by hand</li>
<li><strong>{answered} of {children}</strong> children answered or vaccinated</li>
<li><strong>{no_answer}</strong> with no answer yet</li>
<li><strong>{replies}</strong> {replies_label} from parents</li>
</ul>
</header>
"#,
        team = esc(&s.team),
        programme = esc(programme_name(&s.programme)),
        id = esc(&s.campaign_id),
        schools = esc(&match s.schools.len() {
            1 => format!("school {}", s.schools[0]),
            _ => format!("schools {}", s.schools.join(", ")),
        }),
        sessions_label = if sessions.len() == 1 {
            "Session"
        } else {
            "Sessions"
        },
        sessions = esc(&sessions.join(", ")),
        deadline = esc(&s
            .consent_deadline
            .as_deref()
            .map(long_date)
            .unwrap_or_else(|| "none".into())),
        at = esc(&long_time(&s.generated_at)),
        alert = if report.follow_up.is_empty() {
            ""
        } else {
            "alert"
        },
        follow_up = report.follow_up.len(),
        answered = t.answered(),
        children = t.children,
        no_answer = t.no_answer,
        replies = report
            .replies
            .iter()
            .filter(|r| r.on_campaign_page())
            .count(),
        replies_label = if report
            .replies
            .iter()
            .filter(|r| r.on_campaign_page())
            .count()
            == 1
        {
            "reply"
        } else {
            "replies"
        },
    );
}

fn follow_up(out: &mut String, report: &CampaignReport) {
    let list = &report.follow_up;
    let _ = write!(
        out,
        r#"<section class="follow-up" aria-labelledby="follow-up-heading">
<h2 id="follow-up-heading">Children to follow up: {n}</h2>
<p>No email, text or letter from this campaign can reach these families. Phone them, or ask the school to help. Children whose parent has answered, who are vaccinated, who have left or who have died are not listed. The same list is in {id}.follow-up.csv.</p>
"#,
        n = list.len(),
        id = esc(&report.summary.campaign_id),
    );
    if list.is_empty() {
        out.push_str(
            "<p class=\"ok\">Nobody needs following up: every family without an answer has been reached, or a message is on its way.</p>\n</section>\n",
        );
        return;
    }
    out.push_str(
        r#"<table id="follow-up-list">
<caption>Children to follow up, by school and name</caption>
<thead><tr><th scope="col">Child</th><th scope="col">Date of birth</th><th scope="col">School</th><th scope="col">Year</th><th scope="col">Why</th><th scope="col">What was tried</th></tr></thead>
<tbody>
"#,
    );
    for e in list {
        follow_up_row(out, e);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn follow_up_row(out: &mut String, e: &FollowUpEntry) {
    let nhs = if e.nhs_number.is_empty() {
        String::new()
    } else {
        format!(
            r#"<br><span class="small">NHS number {}</span>"#,
            esc(&e.nhs_number)
        )
    };
    let mut tried = String::new();
    for a in &e.tried {
        let when = if a.date.is_empty() {
            String::new()
        } else {
            format!("{}: ", esc(&long_date(&a.date)))
        };
        let tag = if a.channel.is_empty() {
            r#"<span class="tag bad">Not sent</span>"#.to_owned()
        } else {
            status_tag(&a.status)
        };
        let _ = write!(tried, "<li>{when}{tag} {}</li>", esc(&a.in_words()));
    }
    if tried.is_empty() {
        tried.push_str("<li>Nothing was sent.</li>");
    }
    let _ = writeln!(
        out,
        r#"<tr data-child-id="{id}"><th scope="row">{name}{nhs}</th><td>{dob}</td><td>{school}</td><td>{year}</td><td>{why}</td><td><ul class="tried">{tried}</ul></td></tr>"#,
        id = esc(&e.child_id),
        name = esc(&e.name()),
        dob = esc(&long_date(&e.date_of_birth)),
        school = esc(&e.school_urn),
        year = esc(&year_label(e.year_group)),
        why = code_with_words(&e.reason),
    );
}

fn count_cells(c: &ProgressCounts) -> String {
    [
        c.children,
        c.consent_given,
        c.consent_refused,
        c.no_answer,
        c.vaccinated,
        c.not_eligible,
        c.left_or_died,
    ]
    .iter()
    .map(|n| format!(r#"<td class="num">{n}</td>"#))
    .collect()
}

fn progress(out: &mut String, s: &Summary) {
    let p = &s.consent_progress;
    let t = &p.totals;
    let _ = write!(
        out,
        r#"<section aria-labelledby="progress-heading">
<h2 id="progress-heading">Consent progress</h2>
<p>Of {children}: {given} consent given, {refused} refused, {vaccinated} vaccinated, and {no_answer} with no answer yet.</p>
<table id="progress-by-school">
<caption>Answers by school and year group</caption>
<thead><tr><th scope="col">School</th><th scope="col">Year</th><th scope="col" class="num">Children</th><th scope="col" class="num">Consent given</th><th scope="col" class="num">Refused</th><th scope="col" class="num">No answer yet</th><th scope="col" class="num">Vaccinated</th><th scope="col" class="num">Not eligible</th><th scope="col" class="num">Left or died</th></tr></thead>
<tbody>
"#,
        given = t.consent_given,
        refused = t.consent_refused,
        vaccinated = t.vaccinated,
        no_answer = t.no_answer,
        children = plural(t.children, "child", "children"),
    );
    for row in &p.by_school_year {
        let _ = writeln!(
            out,
            r#"<tr><th scope="row">{}</th><td class="nowrap">{}</td>{}</tr>"#,
            esc(&row.school_urn),
            esc(&year_label(row.year_group)),
            count_cells(&row.counts)
        );
    }
    let _ = write!(
        out,
        r#"</tbody>
<tfoot><tr><th scope="row" colspan="2">All schools</th>{}</tr></tfoot>
</table>
<h3 id="days-heading">Day by day</h3>
"#,
        count_cells(t)
    );
    if p.by_day.is_empty() {
        out.push_str(
            "<p>Nothing has been sent yet, and no answers have come in.</p>\n</section>\n",
        );
        return;
    }
    let sent: u64 = p.by_day.iter().map(|d| d.messages_sent).sum();
    let answers: u64 = p.by_day.iter().map(|d| d.answers_received).sum();
    let _ = write!(
        out,
        r#"<figure>
{svg}
<figcaption>Two panels: messages sent each day (top) and consent answers received each day (bottom). The numbers are in the table below.</figcaption>
</figure>
"#,
        svg = chart(s, &p.by_day, sent, answers)
    );
    if p.answers_without_date > 0 {
        let _ = writeln!(
            out,
            "<p>{} came in before the service kept the day of each answer: they are in the totals above, on no day.</p>",
            plural(p.answers_without_date, "answer", "answers")
        );
    }
    let quiet = p
        .by_day
        .iter()
        .filter(|d| d.messages_sent == 0 && d.answers_received == 0)
        .count() as u64;
    if quiet > 0 {
        let _ = writeln!(
            out,
            "<p>The chart covers {} from {} to {}; the {} not listed below had no messages and no answers.</p>",
            plural(p.by_day.len() as u64, "day", "days"),
            esc(&long_date(&p.by_day[0].date)),
            esc(&long_date(&p.by_day[p.by_day.len() - 1].date)),
            plural(quiet, "day", "days"),
        );
    }
    out.push_str(
        r#"<table id="progress-by-day">
<caption>Messages sent and answers received, on each day something happened</caption>
<thead><tr><th scope="col">Day</th><th scope="col" class="num">Messages sent</th><th scope="col" class="num">Answers received</th></tr></thead>
<tbody>
"#,
    );
    for d in p
        .by_day
        .iter()
        .filter(|d| d.messages_sent > 0 || d.answers_received > 0)
    {
        let _ = writeln!(
            out,
            r#"<tr><th scope="row">{}</th><td class="num">{}</td><td class="num">{}</td></tr>"#,
            esc(&long_date(&d.date)),
            d.messages_sent,
            d.answers_received
        );
    }
    let _ = write!(
        out,
        r#"</tbody>
<tfoot><tr><th scope="row">All days</th><td class="num">{sent}</td><td class="num">{answers}</td></tr></tfoot>
</table>
</section>
"#
    );
}

/// One panel of the chart: its title, colour, unit and the day's number.
type Panel = (
    &'static str,
    &'static str,
    &'static str,
    fn(&DayActivity) -> u64,
);

/// The day-by-day chart: two panels, each titled, bars labelled with their numbers, the
/// sessions and the deadline marked in words.
fn chart(s: &Summary, days: &[DayActivity], sent: u64, answers: u64) -> String {
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 16.0;
    const PLOT: f64 = 110.0;
    const PANEL: f64 = 196.0;
    let n = days.len() as f64;
    let slot = (840.0 / n).clamp(8.0, 40.0);
    let width = (LEFT + n * slot + RIGHT).max(360.0);
    let height = 2.0 * PANEL + 8.0;
    let label_every = (46.0 / slot).ceil().max(1.0) as usize;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-labelledby="chart-title chart-desc" font-family="Helvetica, Arial, sans-serif">
<title id="chart-title">Messages sent and answers received, day by day</title>
<desc id="chart-desc">{sent} messages sent and {answers} answers received from {first} to {last}.</desc>
"##,
        first = esc(&long_date(&days[0].date)),
        last = esc(&long_date(&days[days.len() - 1].date)),
    );
    let panels: [Panel; 2] = [
        ("Messages sent", "#1d70b8", "messages sent", |d| {
            d.messages_sent
        }),
        (
            "Answers received (consent given or refused)",
            "#00703c",
            "answers received",
            |d| d.answers_received,
        ),
    ];
    for (p, (title, colour, unit, value)) in panels.iter().enumerate() {
        let top = p as f64 * PANEL;
        let base = top + 44.0 + PLOT;
        let max = days.iter().map(value).max().unwrap_or(0).max(1);
        let _ = write!(
            svg,
            r##"<text x="0" y="{ty}" font-size="15" font-weight="bold" fill="#0b0c0c">{title}</text>
<line x1="{LEFT}" y1="{base}" x2="{x2}" y2="{base}" stroke="#0b0c0c" stroke-width="1"/>
<line x1="{LEFT}" y1="{gy}" x2="{x2}" y2="{gy}" stroke="#b1b4b6" stroke-width="1" stroke-dasharray="3 3"/>
<text x="{lx}" y="{gty}" font-size="11" text-anchor="end" fill="#505a5f">{max}</text>
<text x="{lx}" y="{bty}" font-size="11" text-anchor="end" fill="#505a5f">0</text>
"##,
            ty = top + 16.0,
            x2 = LEFT + n * slot,
            gy = base - PLOT,
            lx = LEFT - 6.0,
            gty = base - PLOT + 4.0,
            bty = base + 4.0,
        );
        for (i, d) in days.iter().enumerate() {
            let x = LEFT + i as f64 * slot;
            let v = value(d);
            let h = (v as f64 / max as f64 * PLOT).round();
            // Sessions and the deadline, each labelled in words at its own height (they are
            // often on neighbouring days).
            let markers = [
                (s.sessions.iter().any(|x| x == &d.date), "session", 3.0),
                (
                    s.consent_deadline.as_deref() == Some(d.date.as_str()),
                    "deadline",
                    14.0,
                ),
            ];
            for (_, marker, above) in markers.iter().filter(|m| m.0) {
                let mx = x + slot / 2.0;
                let _ = write!(
                    svg,
                    r##"<line x1="{mx}" y1="{y1}" x2="{mx}" y2="{base}" stroke="#505a5f" stroke-width="1" stroke-dasharray="2 2"/><text x="{tx}" y="{ty}" font-size="10" fill="#505a5f">{marker}</text>"##,
                    y1 = base - PLOT - above - 2.0,
                    tx = mx + 2.0,
                    ty = base - PLOT - above - 3.0,
                );
            }
            if v > 0 {
                let _ = write!(
                    svg,
                    r##"<rect x="{bx:.1}" y="{by}" width="{bw:.1}" height="{h}" fill="{colour}"><title>{day}: {v} {unit}</title></rect>"##,
                    bx = x + slot * 0.15,
                    by = base - h,
                    bw = slot * 0.7,
                    day = esc(&short_date(&d.date)),
                );
                if slot >= 14.0 {
                    let _ = write!(
                        svg,
                        r##"<text x="{cx:.1}" y="{vy}" font-size="11" text-anchor="middle" fill="#0b0c0c">{v}</text>"##,
                        cx = x + slot / 2.0,
                        vy = base - h - 3.0,
                    );
                }
            }
            if i % label_every == 0 {
                let _ = write!(
                    svg,
                    r##"<text x="{cx:.1}" y="{ly}" font-size="11" text-anchor="middle" fill="#505a5f">{day}</text>"##,
                    cx = x + slot / 2.0,
                    ly = base + 16.0,
                    day = esc(&short_date(&d.date)),
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

fn replies(out: &mut String, report: &CampaignReport) {
    let shown: Vec<&Reply> = report
        .replies
        .iter()
        .rev()
        .filter(|r| r.on_campaign_page())
        .collect();
    let others = report.replies.len() - shown.len();
    let _ = write!(
        out,
        r#"<section aria-labelledby="replies-heading">
<h2 id="replies-heading">Parents' replies: {n}</h2>
<p>Texts parents sent to the service's number, newest first, from the families of this campaign's children and from numbers on no record. A STOP text is not shown: it stops texts to that number at once. Each day's texts are also in reports/replies/&lt;date&gt;.csv.</p>
"#,
        n = shown.len()
    );
    if others > 0 {
        let _ = writeln!(
            out,
            "<p>{} from parents of children not in this campaign {} in the replies files only.</p>",
            plural(others as u64, "other text", "other texts"),
            if others == 1 { "is" } else { "are" }
        );
    }
    if shown.is_empty() {
        out.push_str("<p>No texts have come in.</p>\n</section>\n");
        return;
    }
    out.push_str(
        r#"<table id="replies">
<caption>Texts from parents, newest first</caption>
<thead><tr><th scope="col">Received</th><th scope="col">From</th><th scope="col">Text</th><th scope="col">Whose parent</th></tr></thead>
<tbody>
"#,
    );
    for r in shown {
        let _ = writeln!(
            out,
            r#"<tr><th scope="row">{at}</th><td>{from}</td><td class="text">{text}</td><td>{whose}</td></tr>"#,
            at = esc(&long_time(&r.received_at)),
            from = esc(if r.from.is_empty() {
                "unknown"
            } else {
                &r.from
            }),
            text = esc(&r.message),
            whose = esc(&r.whose()),
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn sent(out: &mut String, s: &Summary) {
    let _ = write!(
        out,
        r#"<section aria-labelledby="sent-heading">
<h2 id="sent-heading">What was sent</h2>
<table id="totals" class="plain">
<caption class="vh">Totals of the campaign</caption>
<tbody>
<tr><th scope="row">Children in the campaign</th><td class="num">{children}</td></tr>
<tr><th scope="row">Sent at least one message</th><td class="num">{contacted}</td></tr>
<tr><th scope="row">Reached (a message delivered, or a letter in the post)</th><td class="num">{reached}</td></tr>
<tr><th scope="row">To follow up by hand</th><td class="num">{unreachable}</td></tr>
<tr><th scope="row">Letters sent</th><td class="num">{letters}</td></tr>
<tr><th scope="row">Text message fragments</th><td class="num">{fragments}</td></tr>
<tr><th scope="row">Estimated GOV.UK Notify cost</th><td class="num">£{cost:.2}</td></tr>
</tbody>
</table>
<p class="small">Cost: {basis}.</p>
<h3 id="messages-heading">Messages by channel and status</h3>
"#,
        children = s.children,
        contacted = s.children_contacted,
        reached = s.children_reached,
        unreachable = s.children_unreachable,
        letters = s.letters_sent,
        fragments = s.estimated_cost.sms_fragments,
        cost = s.estimated_cost.total_gbp,
        basis = esc(&s.estimated_cost.basis),
    );
    if s.messages.is_empty() {
        out.push_str("<p>No messages yet.</p>\n");
    } else {
        out.push_str(
            r#"<table id="messages" class="plain">
<caption class="vh">Messages by channel and status</caption>
<thead><tr><th scope="col">Channel</th><th scope="col">Status</th><th scope="col">What it means</th><th scope="col" class="num">Messages</th></tr></thead>
<tbody>
"#,
        );
        for (channel, statuses) in &s.messages {
            for (status, count) in statuses {
                let _ = writeln!(
                    out,
                    r#"<tr><th scope="row">{channel}</th><td>{tag} {label}</td><td>{words} <code>{code}</code></td><td class="num">{count}</td></tr>"#,
                    channel = esc(channel_in_words(channel)),
                    tag = status_tag(status),
                    label = esc(&status_label(status)),
                    words = esc(reason_in_words(status)),
                    code = esc(status),
                );
            }
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("<h3 id=\"not-contacted-heading\">Children not contacted</h3>\n");
    if s.not_contacted.is_empty() {
        out.push_str("<p>Every child's family has been sent a message.</p>\n");
    } else {
        out.push_str(
            r#"<table id="not-contacted" class="plain">
<caption class="vh">Children no message has gone to, by reason</caption>
<thead><tr><th scope="col">Reason</th><th scope="col" class="num">Children</th></tr></thead>
<tbody>
"#,
        );
        for (reason, count) in &s.not_contacted {
            let _ = writeln!(
                out,
                r#"<tr><th scope="row">{}</th><td class="num">{count}</td></tr>"#,
                code_with_words(reason)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

fn footer(out: &mut String, s: &Summary) {
    let id = esc(&s.campaign_id);
    let _ = write!(
        out,
        r#"<footer>
<h2 id="files-heading">Files beside this page</h2>
<p>{id}.follow-up.csv: the children to follow up. {id}.csv: every child, with each message, its status and the reason, each code beside its meaning. {id}.summary.json: the totals. ../replies/&lt;date&gt;.csv: each day's texts from parents.</p>
</footer>
"#
    );
}
