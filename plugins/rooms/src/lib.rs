//! Example of a protocol defined in configuration alone (world `raw`): text
//! chat rooms over newline-terminated lines. The listener's config chooses
//! the framing (`terminator = "\n"`); this component only sees lines.
//!
//! ```text
//! NICK <name>   take a nickname (unique among connected users)
//! JOIN <room>   enter a room (leaving the previous one)
//! SAY <text>    say something to the others in the room
//! WHO           list the nicknames in the room
//! QUIT          leave
//! ```
//!
//! All state is in the host's sessions: the nickname and room are session
//! attributes, the room is a group, nickname uniqueness is a claim. The
//! component can be swapped at any time without anyone noticing.

/// What one line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Nick(&'a str),
    Join(&'a str),
    Say(&'a str),
    Who,
    Quit,
}

pub fn parse(line: &str) -> Result<Command<'_>, String> {
    let line = line.trim_end_matches('\r');
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let name = |what: &str| {
        if rest.is_empty()
            || rest.len() > 32
            || !rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Err(format!("{what} must be 1-32 letters, digits, - or _"))
        } else {
            Ok(rest)
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "NICK" => name("nickname").map(Command::Nick),
        "JOIN" => name("room").map(Command::Join),
        "SAY" if !rest.is_empty() => Ok(Command::Say(rest)),
        "SAY" => Err("SAY needs text".into()),
        "WHO" => Ok(Command::Who),
        "QUIT" => Ok(Command::Quit),
        other => Err(format!(
            "unknown command {:?}",
            other.chars().take(16).collect::<String>()
        )),
    }
}

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ world: "raw", path: "../../wit", generate_all });

    use exports::wasmgate::plugin::admin::{self, AdminError};
    use exports::wasmgate::plugin::raw_handler::{self, Outgoing};
    use wasmgate::plugin::sessions::{self, Target};

    use crate::{Command, parse};

    fn line(to: Target, text: String) -> Outgoing {
        Outgoing {
            to,
            frame: text.into_bytes(),
        }
    }

    fn room_group(room: &str) -> String {
        format!("room/{room}")
    }

    struct Rooms;

    impl raw_handler::Guest for Rooms {
        fn opened(_session: u64) -> Result<Vec<Outgoing>, String> {
            Ok(vec![line(
                Target::Reply,
                "HELLO commands: NICK <name>, JOIN <room>, SAY <text>, WHO, QUIT".into(),
            )])
        }

        fn handle(session: u64, frame: Vec<u8>) -> Result<Vec<Outgoing>, String> {
            let text = String::from_utf8(frame).map_err(|_| "lines must be UTF-8".to_string())?;
            let nick = sessions::get_attr(session, "nick");
            let room = sessions::get_attr(session, "room");
            match parse(&text)? {
                Command::Nick(name) => {
                    if nick.as_deref() == Some(name) {
                        return Ok(vec![line(Target::Reply, format!("OK nick {name}"))]);
                    }
                    if !sessions::claim(session, &format!("nick/{name}")) {
                        return Err(format!("nickname {name} is taken"));
                    }
                    if let Some(old) = nick {
                        sessions::release(session, &format!("nick/{old}"));
                    }
                    sessions::set_attr(session, "nick", Some(name));
                    Ok(vec![line(Target::Reply, format!("OK nick {name}"))])
                }
                Command::Join(new) => {
                    let nick = nick.ok_or("choose a nickname first (NICK <name>)")?;
                    let mut out = Vec::new();
                    if let Some(old) = room {
                        out.push(line(
                            Target::GroupOthers(room_group(&old)),
                            format!("* {nick} left {old}"),
                        ));
                        sessions::leave(session, &room_group(&old));
                    }
                    sessions::join(session, &room_group(new));
                    sessions::set_attr(session, "room", Some(new));
                    out.push(line(
                        Target::GroupOthers(room_group(new)),
                        format!("* {nick} joined {new}"),
                    ));
                    out.push(line(Target::Reply, format!("OK joined {new}")));
                    Ok(out)
                }
                Command::Say(words) => {
                    let (nick, room) = nick.zip(room).ok_or("join a room first (JOIN <room>)")?;
                    Ok(vec![line(
                        Target::GroupOthers(room_group(&room)),
                        format!("{nick}: {words}"),
                    )])
                }
                Command::Who => {
                    let room = room.ok_or("join a room first (JOIN <room>)")?;
                    let names: Vec<String> = sessions::members(&room_group(&room))
                        .into_iter()
                        .filter_map(|m| {
                            m.attrs
                                .into_iter()
                                .find(|(k, _)| k == "nick")
                                .map(|(_, v)| v)
                        })
                        .collect();
                    Ok(vec![line(
                        Target::Reply,
                        format!("IN {room}: {}", names.join(" ")),
                    )])
                }
                Command::Quit => {
                    sessions::close(session);
                    Ok(vec![line(Target::Reply, "BYE".into())])
                }
            }
        }

        fn closed(session: u64) -> Vec<Outgoing> {
            match (
                sessions::get_attr(session, "nick"),
                sessions::get_attr(session, "room"),
            ) {
                (Some(nick), Some(room)) => {
                    vec![line(
                        Target::GroupOthers(room_group(&room)),
                        format!("* {nick} left {room}"),
                    )]
                }
                _ => Vec::new(),
            }
        }
    }

    impl admin::Guest for Rooms {
        fn handle(_request: String) -> Result<String, AdminError> {
            Err(AdminError {
                status: 404,
                message: "rooms has no admin operations".into(),
            })
        }
    }

    export!(Rooms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("NICK ann"), Ok(Command::Nick("ann")));
        assert_eq!(parse("join lobby\r"), Ok(Command::Join("lobby")));
        assert_eq!(parse("SAY hello there"), Ok(Command::Say("hello there")));
        assert_eq!(parse("WHO"), Ok(Command::Who));
        assert_eq!(parse("QUIT"), Ok(Command::Quit));
        assert!(parse("NICK").is_err());
        assert!(parse("NICK a b").is_err());
        assert!(parse("SAY").is_err());
        assert!(parse("DANCE").unwrap_err().contains("unknown command"));
    }
}
