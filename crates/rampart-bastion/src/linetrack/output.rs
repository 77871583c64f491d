//! What the input tracker learns from the session's output: whether a
//! full-screen program has switched to the alternate screen (DEC private
//! modes 47, 1047, 1049) and whether the program reading input enabled
//! bracketed paste (mode 2004). Only `CSI ? Pm h` / `CSI ? Pm l` and a full
//! reset (`ESC c`) are interpreted; everything else passes unseen. The
//! scanner keeps at most a few bytes of state across chunks.

/// Longest parameter string followed.
const MAX_PARAMS: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Scan {
    #[default]
    Ground,
    Esc,
    /// Inside a CSI; `private` once a `?` opened the parameters.
    Csi {
        private: bool,
        params: Vec<u8>,
    },
}

/// Terminal modes relevant to input tracking.
#[derive(Debug, Clone, Default)]
pub(super) struct OutputModes {
    scan: Scan,
    alternate_screen: bool,
    bracketed_paste: Option<bool>,
}

impl OutputModes {
    /// A full-screen program (editor, pager) owns the terminal.
    pub(super) fn full_screen(&self) -> bool {
        self.alternate_screen
    }

    /// Whether bracketed paste is on, or `None` before the output said.
    pub(super) fn bracketed_paste(&self) -> Option<bool> {
        self.bracketed_paste
    }

    pub(super) fn feed(&mut self, output: &[u8]) {
        for &b in output {
            self.scan = match std::mem::take(&mut self.scan) {
                Scan::Ground if b == 0x1b => Scan::Esc,
                Scan::Ground => Scan::Ground,
                Scan::Esc => match b {
                    b'[' => Scan::Csi { private: false, params: Vec::new() },
                    b'c' => {
                        self.alternate_screen = false;
                        self.bracketed_paste = Some(false);
                        Scan::Ground
                    }
                    0x1b => Scan::Esc,
                    _ => Scan::Ground,
                },
                Scan::Csi { private, mut params } => match b {
                    b'?' if params.is_empty() && !private => Scan::Csi { private: true, params },
                    b'0'..=b'9' | b';' if params.len() < MAX_PARAMS => {
                        params.push(b);
                        Scan::Csi { private, params }
                    }
                    b'h' | b'l' if private => {
                        self.set_modes(&params, b == b'h');
                        Scan::Ground
                    }
                    0x1b => Scan::Esc,
                    _ => Scan::Ground,
                },
            };
        }
    }

    fn set_modes(&mut self, params: &[u8], on: bool) {
        for mode in params.split(|&b| b == b';') {
            match mode {
                b"47" | b"1047" | b"1049" => self.alternate_screen = on,
                b"2004" => self.bracketed_paste = Some(on),
                _ => {}
            }
        }
    }
}
