//! Drawing `portico chat`'s screens; fits an 80x24 terminal.

use portico_client::{Direction, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{App, View};

/// The status mark shown after an outgoing message.
pub(crate) fn mark(status: Status) -> &'static str {
    match status {
        Status::Failed => "✗ not sent",
        Status::Sending => "…",
        Status::SentToHub => "✓",
        Status::Delivered => "✓✓",
        Status::Read => "✓✓ read",
        Status::Received => "",
    }
}

/// Draws the whole screen.
pub(crate) fn draw(f: &mut Frame<'_>, app: &App) {
    let [main, input, help] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let [contacts, conv] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(20)]).areas(main);

    let mut items: Vec<Line<'_>> = Vec::new();
    for (i, c) in app.contacts.iter().enumerate() {
        if c.third_party.is_some() && (i == 0 || app.contacts[i - 1].third_party.is_none()) {
            items.push(Line::from(Span::styled(
                "── third party ──",
                Style::new().add_modifier(Modifier::DIM),
            )));
        }
        items.push({
            let unread = if c.unread.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.unread.len())
            };
            let text = format!(
                "{} {}{unread}",
                if i == app.selected { ">" } else { " " },
                contact_label(c)
            );
            if i == app.selected {
                Line::from(Span::styled(
                    text,
                    Style::new().add_modifier(Modifier::REVERSED),
                ))
            } else {
                Line::from(text)
            }
        });
    }
    let online = if app.online { "" } else { " offline" };
    f.render_widget(
        Paragraph::new(items).block(Block::bordered().title(format!(" Contacts{online} "))),
        contacts,
    );

    match &app.view {
        View::Chat => draw_conversation(f, app, conv),
        View::Safety(numbers) => draw_safety(f, app, numbers, conv),
    }

    f.render_widget(
        Paragraph::new(format!("{}_", input_tail(&app.input, input.width))).block(
            Block::bordered()
                .title(format!(" {} (device {}) ", app.me, app.device))
                .title_bottom(format!(" {} ", app.notice)),
        ),
        input,
    );
    let keys = match app.view {
        View::Chat => "Enter send  ↑↓ contact  /add NAME  /send FILE  F2 safety no.  Esc quit",
        View::Safety(_) => "v verified  u not verified  Esc back",
    };
    f.render_widget(Paragraph::new(keys), help);
}

/// The end of the input line that fits in a box `width` wide (with the cursor mark).
fn input_tail(input: &str, width: u16) -> &str {
    let room = usize::from(width.saturating_sub(3)).max(1);
    let count = input.chars().count();
    match input.char_indices().nth(count.saturating_sub(room)) {
        Some((i, _)) if count > room => &input[i..],
        _ => input,
    }
}

fn name(jid: &str) -> &str {
    jid.split('@').next().unwrap_or(jid)
}

/// How a contact is listed: the hub's own users by name; a third-party user by the visible id
/// the hub stamped on their messages, or as "a <provider> user" until one arrived.
fn contact_label(c: &super::Contact) -> String {
    match &c.third_party {
        None => name(&c.jid.to_string()).to_owned(),
        Some((_, Some(visible))) => visible.clone(),
        Some((provider, None)) => format!("{provider}: {}", name(&c.jid.to_string())),
    }
}

fn draw_conversation(f: &mut Frame<'_>, app: &App, area: ratatui::layout::Rect) {
    let title = match app.contacts.get(app.selected) {
        Some(c) => match &c.third_party {
            Some((provider, Some(visible))) => format!(" {visible} · third party via {provider} "),
            Some((provider, None)) => format!(" {} · third party via {provider} ", c.jid),
            None => format!(" {} ", c.jid),
        },
        None => " no contact yet: /add NAME ".into(),
    };
    let width = usize::from(area.width.saturating_sub(2)).max(10);
    let mut lines: Vec<Line<'_>> = Vec::new();
    for m in &app.log {
        let (who, mark) = match m.direction {
            Direction::Outgoing => ("me", mark(m.status)),
            Direction::Incoming => (name(&m.sender), ""),
        };
        let text = format!("{who}: {} {mark}", m.body);
        let chars: Vec<char> = text.trim_end().chars().collect();
        for chunk in chars.chunks(width) {
            lines.push(Line::from(chunk.iter().collect::<String>()));
        }
    }
    let height = usize::from(area.height.saturating_sub(2));
    let skip = lines.len().saturating_sub(height);
    let shown: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    f.render_widget(
        Paragraph::new(shown).block(Block::bordered().title(title)),
        area,
    );
}

fn draw_safety(
    f: &mut Frame<'_>,
    app: &App,
    numbers: &[(u32, String, bool)],
    area: ratatui::layout::Rect,
) {
    let peer = app.peer().map(|p| p.to_string()).unwrap_or_default();
    let mut lines = vec![
        Line::from(format!("Safety numbers with {peer}.")),
        Line::from("Compare them with theirs in person or on a call;"),
        Line::from("if they match, press v."),
        Line::from(""),
    ];
    if numbers.is_empty() {
        lines.push(Line::from("None yet: exchange a message first."));
    }
    for (device, number, verified) in numbers {
        let state = if *verified { "  ✓ verified" } else { "" };
        lines.push(Line::from(format!("device {device}{state}")));
        let digits: Vec<char> = number.chars().collect();
        for row in digits.chunks(30) {
            let groups: Vec<String> = row.chunks(5).map(|g| g.iter().collect()).collect();
            lines.push(Line::from(format!("  {}", groups.join(" "))));
        }
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Safety number ")),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::input_tail;
    use crate::chat::{App, View};
    use portico_stanza::Jid;

    fn jid(s: &str) -> Jid {
        s.parse().expect("jid")
    }

    #[test]
    fn third_party_contacts_are_listed_apart_under_their_visible_id() {
        let mut app = App {
            me: jid("alice@localhost"),
            device: 1,
            contacts: Vec::new(),
            selected: 0,
            log: Vec::new(),
            input: String::new(),
            notice: String::new(),
            online: true,
            view: View::Chat,
            downloads: "d".into(),
        };
        let bob = app.contact(&jid("k7f3@birdy.interop.localhost/2"));
        assert_eq!(bob, 0);
        app.selected = 0;
        // A hub user added later still goes above the third-party group; the selection
        // stays on bob.
        assert_eq!(app.contact(&jid("carol@localhost")), 0);
        assert_eq!(app.selected, 1);
        assert_eq!(app.contacts[1].jid, jid("k7f3@birdy.interop.localhost"));
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 12)).expect("terminal");
        terminal.draw(|f| super::draw(f, &app)).expect("draw");
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(screen.contains("carol"), "{screen}");
        assert!(screen.contains("── third party ──"), "{screen}");
        assert!(screen.contains("birdy: k7f3"), "{screen}");
        app.contacts[1].third_party = Some(("birdy".into(), Some("bob@birdy.example".into())));
        terminal.draw(|f| super::draw(f, &app)).expect("draw");
        let screen = format!("{:?}", terminal.backend().buffer());
        assert!(screen.contains("bob@birdy.example"), "{screen}");
        assert!(screen.contains("third party via birdy"), "{screen}");
    }

    #[test]
    fn a_long_input_line_shows_its_end() {
        assert_eq!(input_tail("hello", 80), "hello");
        assert_eq!(input_tail("abcdefghij", 8), "fghij");
        assert_eq!(input_tail("ééééé", 6), "ééé");
    }
}
