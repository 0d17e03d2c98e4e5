//! A locker board's side: its report and reading the answer.

use super::LineClient;

/// A report from device `id` with counter `send`; `extra` lines are added
/// before CLOSE (e.g. "BOX_TO=3").
pub fn report(id: &str, send: u64, extra: &[&str]) -> String {
    let mut s = format!(
        "ACon_V1.0\r\nID={id}\r\nSEND={send}\r\nCONNECTION=1\r\nWIFI_STATE=0\r\nGSM_STATE=0\r\nRESET=0\r\nSTATE=0\r\nCOLS=4\r\nROWS=2\r\nACT_CON=1111,1011\r\n"
    );
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str("CLOSE");
    s
}

pub fn answer(c: &mut LineClient) -> String {
    c.read_until(|l| l == "CLOSE" || l.starts_with("ERROR:"))
}

pub fn exchange(c: &mut LineClient, msg: &str) -> String {
    c.send(msg.as_bytes());
    answer(c)
}
