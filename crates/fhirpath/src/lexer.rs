//! Turns expression text into tokens: identifiers, literals (strings, numbers, dates and times),
//! `%` variables, `$` specials and operators. Comments are skipped here.

use crate::error::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A `backtick` identifier: never a keyword.
    Delimited(String),
    Str(String),
    /// Integer or decimal text; `long` for the `L` suffix.
    Number {
        text: String,
        long: bool,
    },
    /// The text after `@` of a date, date-time or time literal.
    Date(String),
    DateTime(String),
    Time(String),
    Variable(String),
    Dollar(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer { s: src.as_bytes(), src, i: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia()?;
        let pos = lx.i;
        let Some(&c) = lx.s.get(lx.i) else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = match c {
            b'\'' => Tok::Str(lx.quoted(b'\'')?),
            b'`' => Tok::Delimited(lx.quoted(b'`')?),
            b'0'..=b'9' => lx.number(),
            b'@' => lx.temporal()?,
            b'%' => {
                lx.i += 1;
                match lx.s.get(lx.i) {
                    Some(b'`') => Tok::Variable(lx.quoted(b'`')?),
                    Some(b'\'') => Tok::Variable(lx.quoted(b'\'')?),
                    Some(c) if c.is_ascii_alphabetic() || *c == b'_' => Tok::Variable(lx.ident()),
                    _ => return Err(ParseError::syntax(pos, "expected a variable name after %")),
                }
            }
            b'$' => {
                lx.i += 1;
                let name = lx.ident();
                if !matches!(name.as_str(), "this" | "index" | "total") {
                    return Err(ParseError::syntax(pos, format!("unknown special variable ${name}")));
                }
                Tok::Dollar(name)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => Tok::Ident(lx.ident()),
            _ => Tok::Sym(lx.symbol()?),
        };
        out.push(Token { tok, pos });
    }
}

struct Lexer<'s> {
    s: &'s [u8],
    src: &'s str,
    i: usize,
}

impl Lexer<'_> {
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            match self.s.get(self.i) {
                Some(c) if c.is_ascii_whitespace() => self.i += 1,
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'/') => {
                    while let Some(&c) = self.s.get(self.i) {
                        if c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                Some(b'/') if self.s.get(self.i + 1) == Some(&b'*') => {
                    let start = self.i;
                    self.i += 2;
                    loop {
                        match self.s.get(self.i) {
                            None => return Err(ParseError::syntax(start, "unterminated comment")),
                            Some(b'*') if self.s.get(self.i + 1) == Some(&b'/') => {
                                self.i += 2;
                                break;
                            }
                            _ => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.i += 1;
        }
        self.src[start..self.i].to_owned()
    }

    /// A quoted string or delimited identifier with FHIRPath escapes.
    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.src[self.i..].chars().next() else {
                return Err(ParseError::syntax(start, "unterminated string"));
            };
            self.i += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Ok(out),
                '\\' => {
                    let Some(e) = self.src[self.i..].chars().next() else {
                        return Err(ParseError::syntax(start, "unterminated string"));
                    };
                    self.i += e.len_utf8();
                    match e {
                        '\'' | '"' | '`' | '\\' | '/' => out.push(e),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hex = self.src.get(self.i..self.i + 4).ok_or_else(|| ParseError::syntax(self.i, "bad \\u escape"))?;
                            let code = u32::from_str_radix(hex, 16).map_err(|_| ParseError::syntax(self.i, "bad \\u escape"))?;
                            self.i += 4;
                            // Surrogate pairs written as two escapes.
                            let ch = if (0xD800..0xDC00).contains(&code) && self.src[self.i..].starts_with("\\u") {
                                let low = self
                                    .src
                                    .get(self.i + 2..self.i + 6)
                                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                                    .filter(|l| (0xDC00..0xE000).contains(l));
                                match low {
                                    Some(l) => {
                                        self.i += 6;
                                        char::from_u32(0x10000 + ((code - 0xD800) << 10) + (l - 0xDC00))
                                    }
                                    None => None,
                                }
                            } else {
                                char::from_u32(code)
                            };
                            out.push(ch.ok_or_else(|| ParseError::syntax(self.i, "bad \\u escape"))?);
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        if self.s.get(self.i) == Some(&b'.') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
            while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
        }
        let text = self.src[start..self.i].to_owned();
        let long = self.s.get(self.i) == Some(&b'L')
            && !self.s.get(self.i + 1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
            && !text.contains('.');
        if long {
            self.i += 1;
        }
        Tok::Number { text, long }
    }

    /// `@2015-02-04T14:34:28.123+10:00`, `@2015T`, `@T14:34`: takes the longest text that has
    /// the literal's shape; the value is checked by the parser.
    fn temporal(&mut self) -> Result<Tok, ParseError> {
        let start = self.i;
        self.i += 1;
        let digits = |l: &mut Self, n: usize| -> bool {
            if l.s.get(l.i..l.i + n).is_some_and(|d| d.iter().all(u8::is_ascii_digit)) {
                l.i += n;
                true
            } else {
                false
            }
        };
        let time = |l: &mut Self| -> bool {
            if !digits(l, 2) {
                return false;
            }
            if l.s.get(l.i) == Some(&b':') && l.s.get(l.i + 1).is_some_and(u8::is_ascii_digit) {
                l.i += 1;
                if !digits(l, 2) {
                    return false;
                }
                if l.s.get(l.i) == Some(&b':') && l.s.get(l.i + 1).is_some_and(u8::is_ascii_digit) {
                    l.i += 1;
                    if !digits(l, 2) {
                        return false;
                    }
                    if l.s.get(l.i) == Some(&b'.') && l.s.get(l.i + 1).is_some_and(u8::is_ascii_digit) {
                        l.i += 1;
                        while l.s.get(l.i).is_some_and(u8::is_ascii_digit) {
                            l.i += 1;
                        }
                    }
                }
            }
            true
        };
        if self.s.get(self.i) == Some(&b'T') {
            self.i += 1;
            if !time(self) {
                return Err(ParseError::syntax(start, "malformed time literal"));
            }
            return Ok(Tok::Time(self.src[start + 2..self.i].to_owned()));
        }
        if !digits(self, 4) {
            return Err(ParseError::syntax(start, "malformed date literal"));
        }
        for _ in 0..2 {
            if self.s.get(self.i) == Some(&b'-') && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
                if !digits(self, 2) {
                    return Err(ParseError::syntax(start, "malformed date literal"));
                }
            } else {
                break;
            }
        }
        if self.s.get(self.i) != Some(&b'T') {
            return Ok(Tok::Date(self.src[start + 1..self.i].to_owned()));
        }
        self.i += 1;
        if self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            if !time(self) {
                return Err(ParseError::syntax(start, "malformed date-time literal"));
            }
            match self.s.get(self.i) {
                Some(b'Z') => self.i += 1,
                Some(b'+' | b'-') if self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit) => {
                    self.i += 1;
                    if !(digits(self, 2) && self.s.get(self.i) == Some(&b':') && {
                        self.i += 1;
                        digits(self, 2)
                    }) {
                        return Err(ParseError::syntax(start, "malformed time-zone offset"));
                    }
                }
                _ => {}
            }
        }
        Ok(Tok::DateTime(self.src[start + 1..self.i].to_owned()))
    }

    fn symbol(&mut self) -> Result<&'static str, ParseError> {
        let two = self.s.get(self.i..self.i + 2);
        for op in ["<=", ">=", "!=", "!~"] {
            if two == Some(op.as_bytes()) {
                self.i += 2;
                return Ok(op);
            }
        }
        let one = match self.s[self.i] {
            b'.' => ".",
            b'(' => "(",
            b')' => ")",
            b'[' => "[",
            b']' => "]",
            b'{' => "{",
            b'}' => "}",
            b',' => ",",
            b'+' => "+",
            b'-' => "-",
            b'*' => "*",
            b'/' => "/",
            b'&' => "&",
            b'|' => "|",
            b'=' => "=",
            b'~' => "~",
            b'<' => "<",
            b'>' => ">",
            _ => {
                let ch = self.src[self.i..].chars().next().unwrap_or('?');
                return Err(ParseError::syntax(self.i, format!("unexpected character {ch:?}")));
            }
        };
        self.i += 1;
        Ok(one)
    }
}
