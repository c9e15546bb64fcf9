//! Precedence-climbing parser from tokens to the syntax tree. Resolves function names, arities
//! and type specifiers, folds signed numeric literals, and compiles literal regular expressions.
//!
//! Precedence, loosest first: implies; or xor; and; in contains; = ~ != !~; < > <= >=; |;
//! is as; + - &; * / div mod; unary + -; postfix `.` and `[]`.

use crate::ast::{BinaryOp, Call, Func, Node, SystemType, TypeFn, TypeSpec, UnaryOp};
use crate::decimal::Decimal;
use crate::error::ParseError;
use crate::item::Item;
use crate::lexer::{tokenize, Tok, Token};
use crate::model::model;
use crate::quantity::{calendar_keyword, Quantity};
use crate::temporal::{Date, DateTime, Time};

/// Trees deeper than this (counting parentheses, operators and path steps) are refused rather
/// than risking the stack when parsing, evaluating or dropping them.
const MAX_DEPTH: usize = 200;

pub(crate) fn parse(src: &str) -> Result<Node, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, i: 0, depth: 0 };
    let node = p.expr(0)?;
    match p.peek() {
        Tok::Eof => Ok(node),
        _ => Err(p.unexpected()),
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

fn binary_op(tok: &Tok) -> Option<(BinaryOp, u8)> {
    Some(match tok {
        Tok::Ident(w) => match w.as_str() {
            "implies" => (BinaryOp::Implies, 1),
            "or" => (BinaryOp::Or, 2),
            "xor" => (BinaryOp::Xor, 2),
            "and" => (BinaryOp::And, 3),
            "in" => (BinaryOp::In, 4),
            "contains" => (BinaryOp::Contains, 4),
            "div" => (BinaryOp::IntDiv, 10),
            "mod" => (BinaryOp::Mod, 10),
            _ => return None,
        },
        Tok::Sym(s) => match *s {
            "=" => (BinaryOp::Eq, 5),
            "~" => (BinaryOp::Equiv, 5),
            "!=" => (BinaryOp::Ne, 5),
            "!~" => (BinaryOp::NotEquiv, 5),
            "<" => (BinaryOp::Lt, 6),
            ">" => (BinaryOp::Gt, 6),
            "<=" => (BinaryOp::Le, 6),
            ">=" => (BinaryOp::Ge, 6),
            "|" => (BinaryOp::Union, 7),
            "+" => (BinaryOp::Add, 9),
            "-" => (BinaryOp::Sub, 9),
            "&" => (BinaryOp::Concat, 9),
            "*" => (BinaryOp::Mul, 10),
            "/" => (BinaryOp::Div, 10),
            _ => return None,
        },
        _ => return None,
    })
}

const TYPE_OP_PREC: u8 = 8;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self) -> ParseError {
        let what = match self.peek() {
            Tok::Eof => "end of expression".to_owned(),
            Tok::Ident(s) | Tok::Delimited(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Number { text, .. } => format!("number {text}"),
            Tok::Date(s) | Tok::DateTime(s) => format!("@{s}"),
            Tok::Time(s) => format!("@T{s}"),
            Tok::Variable(s) => format!("%{s}"),
            Tok::Dollar(s) => format!("${s}"),
            Tok::Sym(s) => format!("'{s}'"),
        };
        ParseError::syntax(self.pos(), format!("unexpected {what}"))
    }

    fn expect(&mut self, sym: &'static str) -> Result<(), ParseError> {
        if *self.peek() == Tok::Sym(sym) {
            self.bump();
            Ok(())
        } else {
            Err(ParseError::syntax(self.pos(), format!("expected '{sym}'")))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::syntax(self.pos(), "expression nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let entered = self.depth;
        let mut lhs = self.unary()?;
        loop {
            // Each operator nests the tree one level deeper: count it like a parenthesis.
            self.enter()?;
            // is / as take a type specifier, not an expression.
            if let Tok::Ident(w) = self.peek() {
                if (w == "is" || w == "as") && TYPE_OP_PREC >= min_prec {
                    let f = if w == "is" { TypeFn::Is } else { TypeFn::As };
                    self.bump();
                    let spec = self.type_specifier()?;
                    lhs = Node::TypeOp(f, Box::new(lhs), spec);
                    continue;
                }
            }
            let Some((op, prec)) = binary_op(self.peek()) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.bump();
            let rhs = self.expr(prec + 1)?;
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth = entered - 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        let op = match self.peek() {
            Tok::Sym("-") => UnaryOp::Minus,
            Tok::Sym("+") => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        self.bump();
        self.enter()?;
        let operand = self.unary()?;
        self.depth -= 1;
        // Fold a sign into a bare numeric literal.
        if let Node::Literal(lit) = &operand {
            let folded = match (op, lit) {
                (UnaryOp::Plus, Item::Integer(_) | Item::Decimal(_) | Item::Quantity(_)) => Some(lit.clone()),
                (UnaryOp::Minus, Item::Integer(v)) => v.checked_neg().map(Item::Integer),
                (UnaryOp::Minus, Item::Decimal(d)) => Some(Item::Decimal(d.neg())),
                (UnaryOp::Minus, Item::Quantity(q)) => Some(Item::Quantity(Quantity::new(q.value.neg(), q.unit.clone()))),
                _ => None,
            };
            if let Some(f) = folded {
                return Ok(Node::Literal(f));
            }
        }
        Ok(Node::Unary(op, Box::new(operand)))
    }

    fn postfix(&mut self) -> Result<Node, ParseError> {
        let entered = self.depth;
        let mut node = self.term()?;
        loop {
            // Each step of a path nests the tree one level deeper.
            self.enter()?;
            match self.peek() {
                Tok::Sym(".") => {
                    self.bump();
                    let pos = self.pos();
                    let name = match self.bump() {
                        Tok::Ident(s) | Tok::Delimited(s) => s,
                        _ => {
                            self.i -= 1;
                            return Err(ParseError::syntax(pos, "expected a name after '.'"));
                        }
                    };
                    node = self.invocation(Some(node), name, pos)?;
                }
                Tok::Sym("[") => {
                    self.bump();
                    let idx = self.expr(0)?;
                    self.expect("]")?;
                    node = Node::Indexer(Box::new(node), Box::new(idx));
                }
                _ => {
                    self.depth = entered;
                    return Ok(node);
                }
            }
        }
    }

    /// A member access or, when followed by `(`, a function call.
    fn invocation(&mut self, base: Option<Node>, name: String, pos: usize) -> Result<Node, ParseError> {
        if *self.peek() != Tok::Sym("(") {
            return Ok(Node::Member(base.map(Box::new), name));
        }
        self.bump();
        // Arguments recurse through more parser frames than operators do: count them twice.
        self.enter()?;
        let mut args = Vec::new();
        if *self.peek() != Tok::Sym(")") {
            loop {
                args.push(self.expr(0)?);
                if *self.peek() == Tok::Sym(",") {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        self.expect(")")?;
        self.depth -= 1;
        let Some((func, min, max)) = Func::lookup(&name) else {
            return Err(ParseError::UnknownFunction { name, pos });
        };
        if args.len() < min || args.len() > max {
            return Err(ParseError::Arity { name, pos, min, max, got: args.len() });
        }
        let mut call = Call { func, args, type_arg: None, regex: None, descending: Vec::new() };
        match func {
            Func::Is | Func::As | Func::OfType => {
                let spec = type_from_node(&call.args[0]).ok_or_else(|| ParseError::syntax(pos, "expected a type name"))?;
                call.type_arg = Some(resolve_type(&spec.0, &spec.1)?);
            }
            Func::Matches | Func::MatchesFull | Func::ReplaceMatches => {
                if let Node::Literal(Item::String(pat)) = &call.args[0] {
                    call.regex = Some(compile_regex(pat, func == Func::MatchesFull).map_err(ParseError::Regex)?);
                }
            }
            Func::Sort => {
                let args = std::mem::take(&mut call.args);
                for a in args {
                    match a {
                        Node::Unary(UnaryOp::Minus, inner) => {
                            call.descending.push(true);
                            call.args.push(*inner);
                        }
                        Node::Literal(Item::Integer(v)) if v < 0 => {
                            call.descending.push(true);
                            call.args.push(Node::Literal(Item::Integer(-v)));
                        }
                        other => {
                            call.descending.push(false);
                            call.args.push(other);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(Node::Call(base.map(Box::new), Box::new(call)))
    }

    fn type_specifier(&mut self) -> Result<TypeSpec, ParseError> {
        let pos = self.pos();
        let first = match self.bump() {
            Tok::Ident(s) | Tok::Delimited(s) => s,
            _ => return Err(ParseError::syntax(pos, "expected a type name")),
        };
        if (first == "FHIR" || first == "System") && *self.peek() == Tok::Sym(".") {
            if let Tok::Ident(_) | Tok::Delimited(_) = self.peek_at(1) {
                self.bump();
                let second = match self.bump() {
                    Tok::Ident(s) | Tok::Delimited(s) => s,
                    _ => return Err(ParseError::syntax(pos, "expected a type name")),
                };
                return resolve_type(&Some(first), &second);
            }
        }
        resolve_type(&None, &first)
    }

    fn term(&mut self) -> Result<Node, ParseError> {
        let pos = self.pos();
        match self.bump() {
            Tok::Sym("(") => {
                self.enter()?;
                let e = self.expr(0)?;
                self.expect(")")?;
                self.depth -= 1;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.expect("}")?;
                Ok(Node::Empty)
            }
            Tok::Str(s) => Ok(Node::Literal(Item::String(s))),
            Tok::Number { text, long } => self.number(text, long, pos),
            Tok::Date(s) => {
                Date::parse(&s).map(|d| Node::Literal(Item::Date(d))).ok_or_else(|| ParseError::syntax(pos, format!("invalid date @{s}")))
            }
            Tok::DateTime(s) => DateTime::parse(&s)
                .map(|d| Node::Literal(Item::DateTime(d)))
                .ok_or_else(|| ParseError::syntax(pos, format!("invalid date-time @{s}"))),
            Tok::Time(s) => {
                Time::parse(&s).map(|t| Node::Literal(Item::Time(t))).ok_or_else(|| ParseError::syntax(pos, format!("invalid time @T{s}")))
            }
            Tok::Variable(v) => Ok(Node::Variable(v)),
            Tok::Dollar(d) => Ok(match d.as_str() {
                "this" => Node::This,
                "index" => Node::Index,
                _ => Node::Total,
            }),
            Tok::Delimited(name) => self.invocation(None, name, pos),
            Tok::Ident(name) => match name.as_str() {
                "true" => Ok(Node::Literal(Item::Boolean(true))),
                "false" => Ok(Node::Literal(Item::Boolean(false))),
                // Operator keywords cannot start a term, except as function names.
                "and" | "or" | "xor" | "implies" | "div" | "mod" if *self.peek() != Tok::Sym("(") => {
                    self.i -= 1;
                    Err(self.unexpected())
                }
                _ => self.invocation(None, name, pos),
            },
            _ => {
                self.i -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn number(&mut self, text: String, long: bool, pos: usize) -> Result<Node, ParseError> {
        let value = if text.contains('.') {
            Item::Decimal(Decimal::parse(&text).ok_or_else(|| ParseError::syntax(pos, format!("invalid number {text}")))?)
        } else {
            match text.parse::<i64>() {
                Ok(v) => Item::Integer(v),
                Err(_) if !long => Item::Decimal(Decimal::parse(&text).ok_or_else(|| ParseError::syntax(pos, format!("invalid number {text}")))?),
                Err(_) => return Err(ParseError::syntax(pos, format!("integer {text} out of range"))),
            }
        };
        // A unit makes it a quantity: `4 'mg'`, `7 days`.
        let unit = match self.peek() {
            Tok::Str(u) if !long => Some(u.clone()),
            Tok::Ident(w) if !long && calendar_keyword(w).is_some() => Some(w.clone()),
            _ => None,
        };
        let Some(unit) = unit else {
            return Ok(Node::Literal(value));
        };
        self.bump();
        let dec = match value {
            Item::Integer(v) => Decimal::from_i64(v),
            Item::Decimal(d) => d,
            _ => return Err(ParseError::syntax(pos, "invalid quantity")),
        };
        Ok(Node::Literal(Item::Quantity(Quantity::new(dec, unit))))
    }
}

/// Reads a type name out of a function argument (`Quantity`, `FHIR.Patient`, `` System.`String` ``).
fn type_from_node(n: &Node) -> Option<(Option<String>, String)> {
    match n {
        Node::Member(None, name) => Some((None, name.clone())),
        Node::Member(Some(base), name) => match base.as_ref() {
            Node::Member(None, ns) => Some((Some(ns.clone()), name.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn resolve_type(namespace: &Option<String>, name: &str) -> Result<TypeSpec, ParseError> {
    let unknown = || {
        ParseError::UnknownType(match namespace {
            Some(ns) => format!("{ns}.{name}"),
            None => name.to_owned(),
        })
    };
    let m = model();
    let spec = match namespace.as_deref() {
        // Nothing is of an unknown System type (`Patient.is(System.Patient)` is false).
        Some("System") => return Ok(TypeSpec { system: SystemType::from_name(name), fhir: None }),
        Some("FHIR") => TypeSpec { system: None, fhir: Some(m.type_name(name).ok_or_else(unknown)?) },
        Some(_) => return Err(unknown()),
        None => TypeSpec { system: SystemType::from_name(name), fhir: m.type_name(name) },
    };
    if spec.system.is_none() && spec.fhir.is_none() {
        return Err(unknown());
    }
    Ok(spec)
}

/// Compiles a FHIRPath regular expression: `.` matches newlines; `matchesFull` anchors it.
pub(crate) fn compile_regex(pattern: &str, full: bool) -> Result<regex::Regex, String> {
    let src = if full { format!("(?s)^(?:{pattern})$") } else { format!("(?s){pattern}") };
    regex::RegexBuilder::new(&src).size_limit(1 << 20).build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(src: &str) -> String {
        fn show(n: &Node) -> String {
            match n {
                Node::Literal(Item::String(s)) => format!("'{s}'"),
                Node::Literal(Item::Date(d)) => format!("@{d}"),
                Node::Literal(Item::DateTime(d)) => format!("@{d}"),
                Node::Literal(Item::Time(t)) => format!("@T{t}"),
                Node::Literal(i) => i.to_string(),
                Node::Empty => "{}".into(),
                Node::Variable(v) => format!("%{v}"),
                Node::This => "$this".into(),
                Node::Index => "$index".into(),
                Node::Total => "$total".into(),
                Node::Member(None, m) => m.clone(),
                Node::Member(Some(b), m) => format!("{}.{m}", show(b)),
                Node::Call(b, c) => {
                    let args: Vec<String> = c.args.iter().map(show).collect();
                    match b {
                        Some(b) => format!("{}.{}({})", show(b), c.func.name(), args.join(",")),
                        None => format!("{}({})", c.func.name(), args.join(",")),
                    }
                }
                Node::Indexer(b, i) => format!("{}[{}]", show(b), show(i)),
                Node::Unary(op, e) => format!("({}{})", if *op == UnaryOp::Minus { "-" } else { "+" }, show(e)),
                Node::Binary(op, a, b) => format!("({} {:?} {})", show(a), op, show(b)),
                Node::TypeOp(f, e, t) => {
                    format!("({} {:?} {:?}/{:?})", show(e), f, t.system, t.fhir)
                }
            }
        }
        match parse(src) {
            Ok(n) => show(&n),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(shape("1+2*3+4"), "((1 Add (2 Mul 3)) Add 4)");
        assert_eq!(shape("1 > 2 is Boolean"), "(1 Gt (2 Is Some(Boolean)/None))");
        assert_eq!(shape("1 | 1 is Integer"), "(1 Union (1 Is Some(Integer)/None))");
        assert_eq!(shape("true and '0215' in ('0215' | '0216')"), "(true And ('0215' In ('0215' Union '0216')))");
        assert_eq!(shape("a or b and c implies d"), "((a Or (b And c)) Implies d)");
        assert_eq!(shape("a = b xor c != d"), "((a Eq b) Xor (c Ne d))");
        assert_eq!(shape("-1.convertsToInteger()"), "(-1.convertsToInteger())");
        assert_eq!(shape("-Patient.name.count() = -5"), "((-Patient.name.count()) Eq -5)");
        assert_eq!(shape("(-5.5 'mg').abs()"), "-5.5 'mg'.abs()");
        assert_eq!(shape("a.b[0].c"), "a.b[0].c");
        assert_eq!(shape("Observation.value as Quantity"), "(Observation.value As Some(Quantity)/Some(\"Quantity\"))");
        assert_eq!(shape("x is FHIR.`Patient`"), "(x Is None/Some(\"Patient\"))");
        assert_eq!(shape("4 days + 1 'mg'"), "(4 days Add 1 'mg')");
        assert_eq!(shape("2 - -1"), "(2 Sub -1)");
        assert_eq!(shape("a - 1"), "(a Sub 1)");
    }

    #[test]
    fn literals() {
        assert_eq!(shape("@2015-02-04T14:34:28.123+10:00"), "@2015-02-04T14:34:28.123+10:00");
        assert_eq!(shape("@T14:34"), "@T14:34");
        assert_eq!(shape("'a\\'b\\u0065'"), "'a'be'");
        assert_eq!(shape("`given`"), "given");
        assert_eq!(shape("%`vs-x`"), "%vs-x");
        assert_eq!(shape("2 // c\n/ 2"), "(2 Div 2)");
        assert_eq!(shape("10L"), "10");
    }

    #[test]
    fn errors() {
        assert!(shape("2 + 2 /").starts_with("error"));
        assert!(shape("2 + 2 /* open").starts_with("error"));
        assert!(shape("@T14:34:28Z.is(Time)").starts_with("error"));
        assert!(shape("name.nosuch()").starts_with("error: unknown function"));
        assert!(shape("name.where()").starts_with("error"));
        assert!(shape("x.as(string1)").starts_with("error"));
        assert!(shape("'unterminated").starts_with("error"));
        assert!(shape("(((((").starts_with("error"));
        assert!(shape("a..b").starts_with("error"));
        assert!(shape("and").starts_with("error"));
        assert!(shape("1 2").starts_with("error"));
        let deep = "(".repeat(100_000);
        assert!(shape(&deep).starts_with("error"));
    }
}
