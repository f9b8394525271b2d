//! A parser and printer for the protobuf text format, the format of Triton's `config.pbtxt`.
//!
//! The parser knows no schema: it turns the text into a generic tree of [`Message`]s and [`Field`]s, and
//! [`config`](super::config) reads the typed model configuration from that tree. What it accepts:
//!
//! - messages `name { ... }`, `name: { ... }`, and the same with `<` `>` delimiters;
//! - scalar fields `name: value`;
//! - repeated fields, given several times or as lists `name: [a, b, c]`; lists of messages
//!   `name [ { ... }, { ... } ]` (the colon is optional before a list of messages). A list is stored as
//!   one field per element, in order, each with the element's position, so `dims: [1, 2]` and
//!   `dims: 1 dims: 2` give the same tree (protobuf's own semantics);
//! - enum identifiers (`TYPE_FP32`, `KIND_GPU`), `true` / `false` / `True` / `False`;
//! - strings in double or single quotes with the escapes `\n \t \r \a \b \f \v \\ \" \' \?`, octal `\NNN`,
//!   hex `\xNN` and `\uXXXX` / `\UXXXXXXXX`; adjacent strings are concatenated (`"a" 'b'` is `"ab"`);
//! - integers in decimal, hex (`0x1F`) and octal (`017`), with an optional `-`; floats with a fraction
//!   and/or an exponent and an optional `f` suffix; `inf`, `infinity`, `nan` (any case, optional `-`);
//! - `#` comments to the end of the line;
//! - an optional `,` or `;` after each field.
//!
//! Errors are [`Error::ConfigSyntax`] with the 1-based line and column (counted in characters) and a
//! message that says what was expected and what was found. Messages may nest at most [`MAX_DEPTH`]
//! levels deep, so hostile input cannot overflow the stack; no input makes the parser panic.
//!
//! [`Message`]'s `Display` writes the tree back in text format; parsing that text gives an equal tree
//! (positions are not part of equality, see [`Field`]).

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// How deep messages may nest (`a { b { c { ... } } }`) before the parser gives up.
pub const MAX_DEPTH: usize = 64;

/// A message: its fields, in the order they appear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The fields, in order. A repeated field appears once per element.
    pub fields: Vec<Field>,
}

/// One field of a [`Message`]: `name: value` or `name { ... }`.
///
/// Equality compares the name and the value only: `line` and `col` say where the field was found and are
/// not part of its content, so a tree equals the tree parsed from its printed form.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Its value.
    pub value: Value,
    /// 1-based line of the value (of the field name for a single value; of the element in a list).
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Whether the value was an element of a list `name: [a, b]` (protobuf allows lists only for repeated
    /// fields, which the crate checks against Triton's schema). Not part of equality.
    pub in_list: bool,
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.value == other.value
    }
}

/// A field's value.
#[derive(Debug, Clone)]
pub enum Value {
    /// An integer that fits `i64`.
    Int(i64),
    /// A non-negative integer above `i64::MAX` (protobuf's `uint64` fields reach up to `u64::MAX`).
    Uint(u64),
    /// A floating-point number (including `inf` and `nan`).
    Float(f64),
    /// A string, after escapes and concatenation.
    Str(String),
    /// An identifier: an enum value such as `TYPE_FP32`.
    Ident(String),
    /// `true` or `false`.
    Bool(bool),
    /// A nested message.
    Message(Message),
}

impl PartialEq for Value {
    /// Floats compare by value, except that any NaN equals any NaN (so printed trees reparse equal).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Uint(a), Value::Uint(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::Str(a), Value::Str(b)) | (Value::Ident(a), Value::Ident(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Message(a), Value::Message(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// A short description for error messages: `integer 3`, `string "x"`, `identifier TYPE_FP32`, `message`.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(v) => format!("integer {v}"),
            Value::Uint(v) => format!("integer {v}"),
            Value::Float(v) => format!("float {}", FloatText(*v)),
            Value::Str(s) => format!("string {}", Quoted(s)),
            Value::Ident(s) => format!("identifier {s}"),
            Value::Bool(b) => format!("bool {b}"),
            Value::Message(_) => "message".to_string(),
        }
    }
}

impl Message {
    /// Every field called `name`, in order.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.name == name)
    }

    /// The first field called `name`.
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Parses `text` (the content of the file `path`, which is only used in errors).
pub fn parse(text: &str, path: &Path) -> Result<Message> {
    let mut parser = Parser { lexer: Lexer::new(text), path, peeked: None };
    parser.parse_top()
}

/// Parses raw bytes: like [`parse`], but a file that is not UTF-8 is a syntax error at the first bad byte.
pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Message> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, path),
        Err(e) => {
            let good = bytes.get(..e.valid_up_to()).unwrap_or_default();
            // The prefix is valid UTF-8 by construction.
            let prefix = String::from_utf8_lossy(good);
            let (line, col) = end_position(&prefix);
            Err(Error::ConfigSyntax {
                path: path.to_path_buf(),
                line,
                col,
                message: "the file is not valid UTF-8".to_string(),
            })
        }
    }
}

/// The position just after `text`.
fn end_position(text: &str) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

// ---------------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// Integer text (without sign): the digits and the radix.
    Int {
        digits: String,
        radix: u32,
    },
    Float(f64),
    /// A string literal's bytes after escapes.
    Str(Vec<u8>),
    Punct(char),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int { digits, radix: 16 } => format!("`0x{digits}`"),
            Tok::Int { digits, radix: 8 } => format!("`0{digits}`"),
            Tok::Int { digits, .. } => format!("`{digits}`"),
            Tok::Float(v) => format!("`{}`", FloatText(*v)),
            Tok::Str(b) => format!("string {}", Quoted(&String::from_utf8_lossy(b))),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of file".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

/// A lexing error: position and message.
struct LexError {
    line: usize,
    col: usize,
    message: String,
}

impl Lexer {
    fn new(text: &str) -> Self {
        Lexer { chars: text.chars().collect(), pos: 0, line: 1, col: 1 }
    }

    fn peek_char(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, line: usize, col: usize, message: impl Into<String>) -> LexError {
        LexError { line, col, message: message.into() }
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek_char(0) {
            if c == '#' {
                while let Some(c) = self.peek_char(0) {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_blank();
        let (line, col) = (self.line, self.col);
        let Some(c) = self.peek_char(0) else {
            return Ok(Token { tok: Tok::Eof, line, col });
        };
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(c) = self.peek_char(0) {
                if c.is_ascii_alphanumeric() || c == '_' {
                    s.push(c);
                    self.bump();
                } else {
                    break;
                }
            }
            Tok::Ident(s)
        } else if c.is_ascii_digit() || (c == '.' && self.peek_char(1).is_some_and(|d| d.is_ascii_digit())) {
            self.lex_number(line, col)?
        } else if c == '"' || c == '\'' {
            self.lex_strings()?
        } else if "{}<>[]:,;-".contains(c) {
            self.bump();
            Tok::Punct(c)
        } else {
            return Err(self.err(line, col, format!("unexpected character {}", CharText(c))));
        };
        Ok(Token { tok, line, col })
    }

    fn lex_number(&mut self, line: usize, col: usize) -> Result<Tok, LexError> {
        let mut text = String::new();
        // Take the whole run of characters that could belong to a number, then judge it.
        while let Some(c) = self.peek_char(0) {
            let sign_after_exponent = (c == '+' || c == '-')
                && matches!(text.chars().last(), Some('e' | 'E'))
                && !text.starts_with("0x")
                && !text.starts_with("0X");
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || sign_after_exponent {
                text.push(c);
                self.bump();
            } else {
                break;
            }
        }
        let bad = || LexError { line, col, message: format!("invalid number `{text}`") };
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            return Ok(Tok::Int { digits: hex.to_string(), radix: 16 });
        }
        if text.chars().all(|c| c.is_ascii_digit()) {
            if let Some(oct) = text.strip_prefix('0').filter(|o| !o.is_empty()) {
                if !oct.chars().all(|c| ('0'..='7').contains(&c)) {
                    return Err(LexError { line, col, message: format!("invalid octal number `{text}`") });
                }
                return Ok(Tok::Int { digits: oct.to_string(), radix: 8 });
            }
            return Ok(Tok::Int { digits: text, radix: 10 });
        }
        // A float: digits, optional fraction, optional exponent, optional f suffix.
        let body = text.strip_suffix(['f', 'F']).unwrap_or(&text);
        if !is_float_literal(body) {
            return Err(bad());
        }
        body.parse::<f64>().map(Tok::Float).map_err(|_| bad())
    }

    fn lex_strings(&mut self) -> Result<Tok, LexError> {
        let mut bytes = Vec::new();
        loop {
            self.lex_one_string(&mut bytes)?;
            // Adjacent string literals (with blanks or comments between) are concatenated.
            self.skip_blank();
            match self.peek_char(0) {
                Some('"' | '\'') => {}
                _ => break,
            }
        }
        Ok(Tok::Str(bytes))
    }

    fn lex_one_string(&mut self, out: &mut Vec<u8>) -> Result<(), LexError> {
        let (line, col) = (self.line, self.col);
        let Some(quote) = self.bump() else {
            return Err(self.err(line, col, "expected a string"));
        };
        loop {
            let (cl, cc) = (self.line, self.col);
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.err(line, col, "unterminated string (strings end on the same line)"));
                }
                Some(c) if c == quote => return Ok(()),
                Some('\\') => self.lex_escape(out, cl, cc)?,
                Some(c) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }

    fn lex_escape(&mut self, out: &mut Vec<u8>, line: usize, col: usize) -> Result<(), LexError> {
        let Some(c) = self.bump() else {
            return Err(self.err(line, col, "unterminated string"));
        };
        let simple = match c {
            'n' => Some(b'\n'),
            't' => Some(b'\t'),
            'r' => Some(b'\r'),
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            '?' => Some(b'?'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        match c {
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek_char(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                let byte = u8::try_from(v)
                    .map_err(|_| self.err(line, col, format!("octal escape `\\{v:o}` is above \\377")))?;
                out.push(byte);
            }
            'x' | 'X' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match self.peek_char(0).and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            self.bump();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(self.err(line, col, "expected hex digits after `\\x`"));
                }
                out.push(u8::try_from(v).unwrap_or(0));
            }
            'u' | 'U' => {
                let want: usize = if c == 'u' { 4 } else { 8 };
                let mut v = 0u32;
                for _ in 0..want {
                    match self.peek_char(0).and_then(|d| d.to_digit(16)) {
                        Some(d) => {
                            v = v.saturating_mul(16).saturating_add(d);
                            self.bump();
                        }
                        None => {
                            return Err(self.err(line, col, format!("expected {want} hex digits after `\\{c}`")));
                        }
                    }
                }
                let ch = char::from_u32(v)
                    .ok_or_else(|| self.err(line, col, format!("`\\{c}{v:0want$X}` is not a Unicode scalar value")))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => {
                return Err(self.err(line, col, format!("unknown escape `\\{}` in string", other.escape_debug())));
            }
        }
        Ok(())
    }
}

/// `digits [. digits] [e [+-] digits]` or `. digits ...`, with at least one digit in the mantissa.
fn is_float_literal(s: &str) -> bool {
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) || (int.is_empty() && frac.is_none_or(str::is_empty)) {
        return false;
    }
    if exponent.is_none() && frac.is_none() {
        return false;
    }
    match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    lexer: Lexer,
    path: &'a Path,
    peeked: Option<Token>,
}

impl Parser<'_> {
    fn syntax(&self, line: usize, col: usize, message: impl Into<String>) -> Error {
        Error::ConfigSyntax { path: self.path.to_path_buf(), line, col, message: message.into() }
    }

    fn peek(&mut self) -> Result<&Token> {
        if self.peeked.is_none() {
            let t = self.lexer.next_token().map_err(|e| self.syntax(e.line, e.col, e.message))?;
            self.peeked = Some(t);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => Err(self.syntax(self.lexer.line, self.lexer.col, "internal: no token")),
        }
    }

    fn next(&mut self) -> Result<Token> {
        self.peek()?;
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => Err(self.syntax(self.lexer.line, self.lexer.col, "internal: no token")),
        }
    }

    fn parse_top(&mut self) -> Result<Message> {
        let msg = self.parse_fields(None, 0)?;
        let t = self.next()?;
        match t.tok {
            Tok::Eof => Ok(msg),
            other => Err(self.syntax(t.line, t.col, format!("expected a field name, found {}", other.describe()))),
        }
    }

    /// Fields until `close` (or end of file at top level, `close == None`). Does not consume the closer.
    fn parse_fields(&mut self, close: Option<char>, depth: usize) -> Result<Message> {
        let mut msg = Message::default();
        loop {
            let t = self.peek()?.clone();
            match &t.tok {
                Tok::Eof => {
                    if let Some(c) = close {
                        return Err(self.syntax(
                            t.line,
                            t.col,
                            format!("expected a field name or `{c}`, found end of file"),
                        ));
                    }
                    return Ok(msg);
                }
                Tok::Punct(c) if Some(*c) == close => return Ok(msg),
                Tok::Ident(name) => {
                    self.next()?;
                    self.parse_field_rest(name.clone(), t.line, t.col, depth, &mut msg.fields)?;
                    // An optional separator after each field.
                    if matches!(self.peek()?.tok, Tok::Punct(',' | ';')) {
                        self.next()?;
                    }
                }
                other => {
                    let expected = match close {
                        Some(c) => format!("expected a field name or `{c}`"),
                        None => "expected a field name".to_string(),
                    };
                    return Err(self.syntax(t.line, t.col, format!("{expected}, found {}", other.describe())));
                }
            }
        }
    }

    /// After a field name: `: value`, `: [list]`, `{...}`, `<...>`, `[ {..}, .. ]`.
    fn parse_field_rest(
        &mut self,
        name: String,
        line: usize,
        col: usize,
        depth: usize,
        out: &mut Vec<Field>,
    ) -> Result<()> {
        let t = self.next()?;
        match t.tok {
            Tok::Punct(':') => {
                let v = self.peek()?.clone();
                match v.tok {
                    Tok::Punct('[') => {
                        self.next()?;
                        self.parse_list(&name, false, depth, out)
                    }
                    Tok::Punct('{' | '<') => {
                        self.next()?;
                        let value = self.parse_message_body(&v, depth)?;
                        out.push(Field { name, value, line, col, in_list: false });
                        Ok(())
                    }
                    _ => {
                        let value = self.parse_scalar(&name)?;
                        out.push(Field { name, value, line, col, in_list: false });
                        Ok(())
                    }
                }
            }
            Tok::Punct('{' | '<') => {
                let value = self.parse_message_body(&t, depth)?;
                out.push(Field { name, value, line, col, in_list: false });
                Ok(())
            }
            Tok::Punct('[') => self.parse_list(&name, true, depth, out),
            other => Err(self.syntax(
                t.line,
                t.col,
                format!("expected `:` or `{{` after field name `{name}`, found {}", other.describe()),
            )),
        }
    }

    /// The body of a message after its opening `{` or `<` (the token `open`), through the closer.
    fn parse_message_body(&mut self, open: &Token, depth: usize) -> Result<Value> {
        if depth + 1 > MAX_DEPTH {
            return Err(self.syntax(open.line, open.col, format!("messages nested deeper than {MAX_DEPTH} levels")));
        }
        let close = if open.tok == Tok::Punct('<') { '>' } else { '}' };
        let msg = self.parse_fields(Some(close), depth + 1)?;
        // parse_fields stops only at the closer.
        self.next()?;
        Ok(Value::Message(msg))
    }

    /// A list after its `[`: elements separated by `,`, through `]`. Without a colon before the list,
    /// only messages are allowed (protobuf's rule).
    fn parse_list(&mut self, name: &str, messages_only: bool, depth: usize, out: &mut Vec<Field>) -> Result<()> {
        let first = self.peek()?.clone();
        if first.tok == Tok::Punct(']') {
            self.next()?;
            return Ok(());
        }
        loop {
            let t = self.peek()?.clone();
            let value = match t.tok {
                Tok::Punct('{' | '<') => {
                    self.next()?;
                    self.parse_message_body(&t, depth)?
                }
                _ if messages_only => {
                    return Err(self.syntax(
                        t.line,
                        t.col,
                        format!(
                            "expected `{{` (a list without `:` holds messages) in the list `{name}`, found {}",
                            t.tok.describe()
                        ),
                    ));
                }
                _ => self.parse_scalar(name)?,
            };
            out.push(Field { name: name.to_string(), value, line: t.line, col: t.col, in_list: true });
            let sep = self.next()?;
            match sep.tok {
                Tok::Punct(',') => {}
                Tok::Punct(']') => return Ok(()),
                other => {
                    return Err(self.syntax(
                        sep.line,
                        sep.col,
                        format!("expected `,` or `]` in the list `{name}`, found {}", other.describe()),
                    ));
                }
            }
        }
    }

    fn parse_scalar(&mut self, name: &str) -> Result<Value> {
        let t = self.next()?;
        match t.tok {
            Tok::Punct('-') => {
                let n = self.next()?;
                match n.tok {
                    Tok::Int { digits, radix } => self.int_value(&digits, radix, true, t.line, t.col),
                    Tok::Float(v) => Ok(Value::Float(-v)),
                    Tok::Ident(ref s) => match special_float(s) {
                        Some(v) => Ok(Value::Float(-v)),
                        None => Err(self.syntax(
                            n.line,
                            n.col,
                            format!("expected a number after `-`, found {}", n.tok.describe()),
                        )),
                    },
                    other => Err(self.syntax(
                        n.line,
                        n.col,
                        format!("expected a number after `-`, found {}", other.describe()),
                    )),
                }
            }
            Tok::Int { digits, radix } => self.int_value(&digits, radix, false, t.line, t.col),
            Tok::Float(v) => Ok(Value::Float(v)),
            Tok::Str(bytes) => match String::from_utf8(bytes) {
                Ok(s) => Ok(Value::Str(s)),
                Err(_) => Err(self.syntax(t.line, t.col, format!("the string value of `{name}` is not valid UTF-8"))),
            },
            Tok::Ident(s) => Ok(match s.as_str() {
                "true" | "True" => Value::Bool(true),
                "false" | "False" => Value::Bool(false),
                _ => match special_float(&s) {
                    Some(v) => Value::Float(v),
                    None => Value::Ident(s),
                },
            }),
            other => Err(self.syntax(
                t.line,
                t.col,
                format!("expected a value for field `{name}`, found {}", other.describe()),
            )),
        }
    }

    fn int_value(&self, digits: &str, radix: u32, negative: bool, line: usize, col: usize) -> Result<Value> {
        let text = match radix {
            16 => format!("0x{digits}"),
            8 => format!("0{digits}"),
            _ => digits.to_string(),
        };
        let sign = if negative { "-" } else { "" };
        let range = || self.syntax(line, col, format!("integer `{sign}{text}` is out of range"));
        // Octal "0" alone is lexed as decimal; an empty digit string cannot reach here, but be safe.
        let magnitude = if digits.is_empty() { Ok(0) } else { u64::from_str_radix(digits, radix) };
        let magnitude = magnitude.map_err(|_| range())?;
        if negative {
            if magnitude == 1u64 << 63 {
                return Ok(Value::Int(i64::MIN));
            }
            let v = i64::try_from(magnitude).map_err(|_| range())?;
            Ok(Value::Int(-v))
        } else {
            Ok(match i64::try_from(magnitude) {
                Ok(v) => Value::Int(v),
                Err(_) => Value::Uint(magnitude),
            })
        }
    }
}

fn special_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------
// Printer

/// A float written so that it reads back as the same float (and as a float, never an integer).
struct FloatText(f64);

impl fmt::Display for FloatText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("nan")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "inf" } else { "-inf" })
        } else {
            // Debug always writes a `.` or an exponent, and the shortest text that reads back exactly.
            write!(f, "{v:?}")
        }
    }
}

/// A string in double quotes with escapes, readable by the parser.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\t' => f.write_str("\\t")?,
                '\r' => f.write_str("\\r")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\{:03o}", c as u32)?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A character for an error message.
struct CharText(char);

impl fmt::Display for CharText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.0.escape_debug())
    }
}

impl fmt::Display for Value {
    /// Scalars as they are written in a config; a message as `{ ... }` on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Uint(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{}", FloatText(*v)),
            Value::Str(s) => write!(f, "{}", Quoted(s)),
            Value::Ident(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Message(m) => {
                f.write_str("{")?;
                for field in &m.fields {
                    f.write_str(" ")?;
                    match &field.value {
                        Value::Message(_) => write!(f, "{} {}", field.name, field.value)?,
                        v => write!(f, "{}: {v}", field.name)?,
                    }
                }
                f.write_str(" }")
            }
        }
    }
}

impl Message {
    fn write_indented(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let pad = "  ".repeat(indent);
        let mut i = 0;
        while let Some(field) = self.fields.get(i) {
            match &field.value {
                Value::Message(m) => {
                    writeln!(f, "{pad}{} {{", field.name)?;
                    m.write_indented(f, indent + 1)?;
                    writeln!(f, "{pad}}}")?;
                    i += 1;
                }
                first => {
                    // A run of scalars of the same name is written as a list.
                    let run: Vec<&Value> = self
                        .fields
                        .get(i..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|g| g.name == field.name && !matches!(g.value, Value::Message(_)))
                        .map(|g| &g.value)
                        .collect();
                    if run.len() > 1 {
                        let items: Vec<String> = run.iter().map(|v| v.to_string()).collect();
                        writeln!(f, "{pad}{}: [ {} ]", field.name, items.join(", "))?;
                    } else {
                        writeln!(f, "{pad}{}: {first}", field.name)?;
                    }
                    i += run.len().max(1);
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Message {
    /// The message in text format, one field per line, nested messages indented by two spaces; runs of
    /// a repeated scalar field are written as one list (`dims: [ 1, 3 ]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_indented(f, 0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn p(text: &str) -> Message {
        match parse(text, Path::new("t.pbtxt")) {
            Ok(m) => m,
            Err(e) => panic!("parse failed: {e}\n{text}"),
        }
    }

    /// The error's (line, col, message).
    fn perr(text: &str) -> (usize, usize, String) {
        match parse(text, Path::new("t.pbtxt")) {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(Error::ConfigSyntax { line, col, message, path }) => {
                assert_eq!(path, Path::new("t.pbtxt"));
                (line, col, message)
            }
            Err(e) => panic!("wrong error {e:?}"),
        }
    }

    fn vals<'a>(m: &'a Message, name: &'a str) -> Vec<&'a Value> {
        m.get_all(name).map(|f| &f.value).collect()
    }

    #[test]
    fn scalars_and_positions() {
        let m = p("name: \"yolo\"\nmax_batch_size: 8\n  platform: 'onnxruntime_onnx'");
        assert_eq!(m.fields.len(), 3);
        assert_eq!(m.fields[0].value, Value::Str("yolo".into()));
        assert_eq!((m.fields[1].line, m.fields[1].col), (2, 1));
        assert_eq!(m.fields[1].value, Value::Int(8));
        assert_eq!((m.fields[2].line, m.fields[2].col), (3, 3));
        assert_eq!(m.fields[2].value, Value::Str("onnxruntime_onnx".into()));
    }

    #[test]
    fn messages_with_every_delimiter() {
        let m = p("a { x: 1 } b: { x: 2 } c < x: 3 > d: < x: 4 >");
        for (name, want) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
            let Some(Value::Message(inner)) = m.get(name).map(|f| &f.value) else { panic!("{name}") };
            assert_eq!(inner.get("x").unwrap().value, Value::Int(want));
        }
    }

    #[test]
    fn repeated_fields_and_lists_are_the_same_tree() {
        let a = p("dims: [ 1, 3, 640, 640 ]");
        let b = p("dims: 1 dims: 3\ndims: 640\ndims: 640");
        assert_eq!(a, b);
        assert_eq!(vals(&a, "dims").len(), 4);
        // Each element keeps its own position.
        assert_eq!((a.fields[2].line, a.fields[2].col), (1, 15));
        assert!(p("dims: []").fields.is_empty());
    }

    #[test]
    fn lists_of_messages() {
        let a = p("input [ { name: \"a\" }, { name: \"b\" } ]");
        let b = p("input: [ { name: \"a\" }, < name: \"b\" > ]");
        let c = p("input { name: \"a\" } input { name: \"b\" }");
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.fields.len(), 2);
    }

    #[test]
    fn enums_bools_and_special_floats() {
        let m = p("t: TYPE_FP32 k: KIND_GPU b: true c: False i: inf j: -Infinity n: nan");
        assert_eq!(m.get("t").unwrap().value, Value::Ident("TYPE_FP32".into()));
        assert_eq!(m.get("k").unwrap().value, Value::Ident("KIND_GPU".into()));
        assert_eq!(m.get("b").unwrap().value, Value::Bool(true));
        assert_eq!(m.get("c").unwrap().value, Value::Bool(false));
        assert_eq!(m.get("i").unwrap().value, Value::Float(f64::INFINITY));
        assert_eq!(m.get("j").unwrap().value, Value::Float(f64::NEG_INFINITY));
        assert!(matches!(m.get("n").unwrap().value, Value::Float(v) if v.is_nan()));
    }

    #[test]
    fn numbers() {
        let m = p("a: -1 b: 0x1F c: 017 d: 1.5 e: -2.5e-3 f: 1e3 g: .5 h: 2.f i: 0 j: -0x10 k: 1E+2");
        let want = [
            ("a", Value::Int(-1)),
            ("b", Value::Int(31)),
            ("c", Value::Int(15)),
            ("d", Value::Float(1.5)),
            ("e", Value::Float(-2.5e-3)),
            ("f", Value::Float(1000.0)),
            ("g", Value::Float(0.5)),
            ("h", Value::Float(2.0)),
            ("i", Value::Int(0)),
            ("j", Value::Int(-16)),
            ("k", Value::Float(100.0)),
        ];
        for (name, v) in want {
            assert_eq!(m.get(name).unwrap().value, v, "{name}");
        }
    }

    #[test]
    fn integer_range() {
        let m = p("a: 9223372036854775807 b: -9223372036854775808 c: 18446744073709551615");
        assert_eq!(m.get("a").unwrap().value, Value::Int(i64::MAX));
        assert_eq!(m.get("b").unwrap().value, Value::Int(i64::MIN));
        assert_eq!(m.get("c").unwrap().value, Value::Uint(u64::MAX));
        let (l, c, msg) = perr("a: 18446744073709551616");
        assert_eq!((l, c), (1, 4));
        assert!(msg.contains("out of range"), "{msg}");
        let (_, _, msg) = perr("a: -9223372036854775809");
        assert!(msg.contains("out of range"), "{msg}");
    }

    #[test]
    fn strings_escapes_and_concatenation() {
        let m = p(r#"s: "a\n\t\\\"\'" 'b\101\x42\x4' "c" u: "\u00e9\U0001F600" q: 'it''s' x: "é""#);
        assert_eq!(m.get("s").unwrap().value, Value::Str("a\n\t\\\"'bAB\u{4}c".into()));
        assert_eq!(m.get("u").unwrap().value, Value::Str("é😀".into()));
        assert_eq!(m.get("q").unwrap().value, Value::Str("its".into()));
        assert_eq!(m.get("x").unwrap().value, Value::Str("é".into()));
    }

    #[test]
    fn comments_and_separators() {
        let m = p("# header\na: 1, b: 2; # trailing\nc { d: 3; e: 4, }\n# end");
        assert_eq!(m.fields.len(), 3);
        let Value::Message(c) = &m.get("c").unwrap().value else { panic!() };
        assert_eq!(c.fields.len(), 2);
    }

    #[test]
    fn errors_say_what_was_expected_and_found() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("dims ]", 1, 6, "expected `:` or `{` after field name `dims`, found `]`"),
            ("a: 1\nb: }", 2, 4, "expected a value for field `b`, found `}`"),
            ("a { b: 1", 1, 9, "expected a field name or `}`, found end of file"),
            ("a < b: 1 }", 1, 10, "expected a field name or `>`, found `}`"),
            ("}", 1, 1, "expected a field name, found `}`"),
            ("a: [1 2]", 1, 7, "expected `,` or `]` in the list `a`, found `2`"),
            ("a: [1, ]", 1, 8, "expected a value for field `a`, found `]`"),
            ("a [1]", 1, 4, "expected `{` (a list without `:` holds messages) in the list `a`, found `1`"),
            ("a: \"abc\nb: 1", 1, 4, "unterminated string"),
            ("a: 'abc", 1, 4, "unterminated string"),
            ("a: \"\\q\"", 1, 5, "unknown escape `\\q`"),
            ("a: \"\\400\"", 1, 5, "above \\377"),
            ("a: \"\\x\"", 1, 5, "expected hex digits after `\\x`"),
            ("a: \"\\u12\"", 1, 5, "expected 4 hex digits"),
            ("a: \"\\uD800\"", 1, 5, "not a Unicode scalar value"),
            ("a: \"\\377\"", 1, 4, "not valid UTF-8"),
            ("a: 1.2.3", 1, 4, "invalid number `1.2.3`"),
            ("a: 12abc", 1, 4, "invalid number `12abc`"),
            ("a: 0x", 1, 4, "invalid number `0x`"),
            ("a: 09", 1, 4, "invalid octal number `09`"),
            ("a: - x", 1, 6, "expected a number after `-`, found `x`"),
            ("a: 1 @", 1, 6, "unexpected character `@`"),
            ("a: [1", 1, 6, "expected `,` or `]` in the list `a`, found end of file"),
            ("a:", 1, 3, "expected a value for field `a`, found end of file"),
            ("1: 2", 1, 1, "expected a field name, found `1`"),
        ];
        for &(text, line, col, want) in cases {
            let (l, c, msg) = perr(text);
            assert!(msg.contains(want), "{text:?}: message {msg:?} lacks {want:?}");
            assert_eq!((l, c), (line, col), "{text:?}: {msg}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "a {".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        p(&ok);
        let deep = format!("{}{}", "a {".repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        let (l, c, msg) = perr(&deep);
        assert!(msg.contains("nested deeper than 64"), "{msg}");
        assert_eq!((l, c), (1, 3 * MAX_DEPTH + 3));
        // Very deep hostile input fails cleanly too (lists of messages recurse through the same path).
        let hostile = "a [".repeat(100_000);
        perr(&hostile);
        let hostile = "a: {".repeat(100_000);
        perr(&hostile);
    }

    #[test]
    fn non_utf8_file() {
        let e = parse_bytes(b"a: 1\nb: \"\xff\"", Path::new("x.pbtxt")).unwrap_err();
        match e {
            Error::ConfigSyntax { line, col, message, .. } => {
                assert_eq!((line, col), (2, 5));
                assert!(message.contains("UTF-8"));
            }
            e => panic!("{e:?}"),
        }
    }

    const SAMPLE: &str = r#"
name: "ensemble"   # a comment
platform: "ensemble"
max_batch_size: 0
input [ { name: "original_image_3840_2160" data_type: TYPE_FP32 dims: [ 1, 3, 2160, 3840 ] } ]
output [
  { name: "yolo_detections", data_type: TYPE_FP32, dims: [ 1, 300, 6 ] },
  { name: "estimated_oil_pct"; data_type: TYPE_FP32; dims: 1 dims: 1 }
]
ensemble_scheduling {
  step [
    {
      model_name: "preprocessing"
      model_version: -1
      input_map { key: "original_image_3840_2160" value: "original_image_3840_2160" }
      output_map < key: "preprocessed_640_640_image", value: "preprocessed_640_640_image" >
    }
  ]
}
parameters { key: "s" value: { string_value: "a\"b\\c\n\001 é" } }
optimization { priority: PRIORITY_MAX, cuda { graphs: true } }
floats: [ 1.5, -0.0, 1e300, 5e-324, inf, -inf, nan, 0.1 ]
big: 18446744073709551615
neg: -9223372036854775808
"#;

    #[test]
    fn print_then_parse_is_identity() {
        let once = p(SAMPLE);
        let printed = once.to_string();
        let twice = p(&printed);
        assert_eq!(once, twice, "printed:\n{printed}");
        // And printing is stable.
        assert_eq!(printed, twice.to_string());
        // The inline Display of a message value also reads back.
        let inline = format!("m {}", Value::Message(once.clone()));
        let Value::Message(back) = &p(&inline).fields[0].value else { panic!() };
        assert_eq!(*back, once);
    }

    #[test]
    fn guide_configs_round_trip() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs");
        for name in ["preprocessing", "yolov8", "postprocessing", "efficientnet_v2", "ensemble"] {
            let text = std::fs::read_to_string(dir.join(format!("{name}.pbtxt"))).unwrap();
            let once = p(&text);
            assert_eq!(p(&once.to_string()), once, "{name}");
        }
    }

    /// A small deterministic PRNG for the fuzz tests (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn fuzz_random_and_mutated_inputs_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let alphabet: Vec<char> = "{}<>[]:,;-+.#\"'\\\n\t 0123456789abcdefxXeEinfTYPE_\u{e9}\u{0}".chars().collect();
        let seed: Vec<char> = SAMPLE.chars().collect();
        for round in 0..4000 {
            let text: String = if round % 2 == 0 {
                let len = rng.below(200);
                (0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect()
            } else {
                let mut s = seed.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(s.len() + 1);
                    match rng.below(3) {
                        0 if at < s.len() => {
                            s.remove(at);
                        }
                        1 if at < s.len() => s[at] = alphabet[rng.below(alphabet.len())],
                        _ => s.insert(at.min(s.len()), alphabet[rng.below(alphabet.len())]),
                    }
                }
                s.into_iter().collect()
            };
            if let Ok(m) = parse(&text, Path::new("f")) {
                // Whatever parses must survive the round trip.
                let again = parse(&m.to_string(), Path::new("f")).unwrap();
                assert_eq!(m, again, "input {text:?}");
            }
            // Raw bytes too.
            let bytes: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            let _ = parse_bytes(&bytes, Path::new("f"));
        }
    }
}

/// Property tests (proptest, CI-sized case counts) of the parser on generated text and bytes (here, not in
/// `tests/`, because the parser is crate-private).
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod properties {
    use std::path::Path;

    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::{parse, parse_bytes};

    /// Characters the config grammar cares about, plus a few it does not.
    const PBTXT_CHARS: &str = "{}<>[]:,;-+.#\"'\\\n\t 0123456789abcdefxXeEinfnaTYPE_FP32dims\u{e9}\u{0}";

    fn pbtxt_like() -> impl Strategy<Value = String> {
        let chars: Vec<char> = PBTXT_CHARS.chars().collect();
        proptest::collection::vec(proptest::sample::select(chars), 0..160).prop_map(|v| v.into_iter().collect())
    }

    /// Well-formed configs built from random fields, so that the round trip is exercised on accepted input too.
    fn pbtxt_valid() -> impl Strategy<Value = String> {
        let name = proptest::sample::select(vec!["name", "dims", "data_type", "input", "max_batch_size", "x_y"]);
        let scalar = prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            proptest::sample::select(vec!["TYPE_FP32", "true", "inf", "-nan", "kind_GPU", "x"]).prop_map(String::from),
            any::<String>().prop_map(|s| format!("{s:?}")),
            proptest::collection::vec(any::<i32>(), 0..5)
                .prop_map(|v| format!("[{}]", v.iter().map(i32::to_string).collect::<Vec<_>>().join(", "))),
        ];
        let field = (name, scalar).prop_map(|(n, v)| format!("{n}: {v}"));
        let leaf = proptest::collection::vec(field, 0..6).prop_map(|v| v.join("\n"));
        leaf.prop_recursive(3, 24, 4, |inner| {
            (proptest::sample::select(vec!["input", "output", "ensemble_scheduling", "step"]), inner, any::<bool>())
                .prop_map(
                    |(n, body, angle)| if angle { format!("{n} < {body} >") } else { format!("{n} {{ {body} }}") },
                )
        })
    }

    proptest! {
        #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

        /// Arbitrary text never panics the parser; what it accepts prints and parses back equal.
        #[test]
        fn pbtxt_parse_never_panics_and_round_trips(text in prop_oneof![pbtxt_like(), any::<String>(), pbtxt_valid()]) {
            let path = Path::new("p/config.pbtxt");
            if let Ok(m) = parse(&text, path) {
                let printed = m.to_string();
                let again = parse(&printed, path);
                prop_assert!(again.is_ok(), "printed form does not parse: {printed:?} from {text:?}");
                prop_assert_eq!(&again.unwrap(), &m, "printed: {:?}", printed);
            }
        }

        /// Arbitrary bytes (not UTF-8, NULs, ...) never panic the parser.
        #[test]
        fn pbtxt_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_bytes(&bytes, Path::new("p/config.pbtxt"));
        }
    }
}
