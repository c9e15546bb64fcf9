//! Static checking of an expression against the FHIR model, without data: infers the possible
//! types at each path step from a root resource type and reports element names that no possible
//! type has (`Patient.nmae`, `(Observation.value as Period).unit`).

use crate::ast::{Call, Func, Node, TypeFn, TypeSpec};
use crate::error::EvalError;
use crate::model::{model, ElementKind, Model, OwnerId, Target};

/// One possible static type: its name and where its elements are described.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ty {
    name: &'static str,
    owner: Option<OwnerId>,
}

/// What a sub-expression may produce: some known FHIR types (possibly none), or anything.
#[derive(Clone)]
enum Types {
    Known(Vec<Ty>),
    Unknown,
}

impl Types {
    fn union(self, other: Types) -> Types {
        match (self, other) {
            (Types::Known(mut a), Types::Known(b)) => {
                for t in b {
                    if !a.contains(&t) {
                        a.push(t);
                    }
                }
                Types::Known(a)
            }
            _ => Types::Unknown,
        }
    }
}

fn of_target(t: &Target) -> Types {
    if t.ty == "Resource" {
        // A contained or bundled resource: known only at run time.
        return Types::Unknown;
    }
    Types::Known(vec![Ty { name: t.ty, owner: t.owner }])
}

fn of_spec(spec: &TypeSpec) -> Types {
    match spec.fhir {
        Some(name) => {
            let m = model();
            let owner = if Model::is_primitive(name) { None } else { m.type_owner(name) };
            Types::Known(vec![Ty { name, owner }])
        }
        None => Types::Unknown,
    }
}

pub(crate) fn check(root: &Node, resource_type: &str) -> Result<(), EvalError> {
    let m = model();
    let name = m.type_name(resource_type).ok_or_else(|| EvalError::type_error(format!("unknown type {resource_type}")))?;
    let root_types = Types::Known(vec![Ty { name, owner: m.type_owner(name) }]);
    Checker { root: root_types.clone() }.infer(root, &root_types).map(|_| ())
}

struct Checker {
    root: Types,
}

impl Checker {
    fn infer(&self, node: &Node, this: &Types) -> Result<Types, EvalError> {
        Ok(match node {
            Node::Literal(_) | Node::Empty | Node::Index | Node::Total => Types::Unknown,
            Node::This => this.clone(),
            Node::Variable(v) => match v.as_str() {
                "resource" | "context" | "rootResource" => self.root.clone(),
                _ => Types::Unknown,
            },
            Node::Member(base, name) => {
                let input = match base {
                    Some(b) => self.infer(b, this)?,
                    None => this.clone(),
                };
                member(&input, name)?
            }
            Node::Indexer(base, index) => {
                self.infer(index, this)?;
                self.infer(base, this)?
            }
            Node::Unary(_, operand) => {
                self.infer(operand, this)?;
                Types::Unknown
            }
            Node::Binary(op, l, r) => {
                let a = self.infer(l, this)?;
                let b = self.infer(r, this)?;
                if *op == crate::ast::BinaryOp::Union {
                    a.union(b)
                } else {
                    Types::Unknown
                }
            }
            Node::TypeOp(f, operand, spec) => {
                self.infer(operand, this)?;
                match f {
                    TypeFn::Is => Types::Unknown,
                    _ => of_spec(spec),
                }
            }
            Node::Call(base, call) => {
                let input = match base {
                    Some(b) => self.infer(b, this)?,
                    None => this.clone(),
                };
                self.call(call, input, this)?
            }
        })
    }

    fn call(&self, call: &Call, input: Types, this: &Types) -> Result<Types, EvalError> {
        use Func::*;
        let lambda = matches!(call.func, Exists | All | Where | Select | Repeat | RepeatAll | Aggregate | Sort | Trace | Iif);
        let mut arg_types = Vec::with_capacity(call.args.len());
        for (i, a) in call.args.iter().enumerate() {
            if matches!(call.func, Is | As | OfType) {
                break;
            }
            // trace's name and aggregate's initial value are plain arguments.
            let per_item = lambda && !(call.func == Trace && i == 0) && !(call.func == Aggregate && i == 1);
            arg_types.push(self.infer(a, if per_item { &input } else { this })?);
        }
        Ok(match call.func {
            Where | First | Last | Tail | Skip | Take | Single | Distinct | Trace | Intersect | Exclude | Sort => input,
            Select => arg_types.into_iter().next().unwrap_or(Types::Unknown),
            Union | Combine => input.union(arg_types.into_iter().next().unwrap_or(Types::Unknown)),
            As | OfType => call.type_arg.as_ref().map(of_spec).unwrap_or(Types::Unknown),
            Extension => {
                let m = model();
                match m.type_name("Extension") {
                    Some(name) => Types::Known(vec![Ty { name, owner: m.type_owner(name) }]),
                    None => Types::Unknown,
                }
            }
            _ => Types::Unknown,
        })
    }
}

/// The types `name` leads to from `input`; an error when no possible type has such an element.
fn member(input: &Types, name: &str) -> Result<Types, EvalError> {
    let Types::Known(types) = input else {
        return Ok(Types::Unknown);
    };
    if types.is_empty() {
        return Ok(Types::Known(Vec::new()));
    }
    let m = model();
    if name.starts_with(|c: char| c.is_ascii_uppercase()) && m.type_name(name).is_some() {
        // A type name keeps the types that are of it (`Patient.name` on a Patient), and is
        // simply empty on others (`Person.telecom` in a union checked against Patient).
        return Ok(Types::Known(types.iter().copied().filter(|t| m.is_subtype(t.name, name)).collect()));
    }
    let mut out = Types::Known(Vec::new());
    let mut defined = false;
    for t in types {
        if Model::is_primitive(t.name) {
            if matches!(name, "id" | "extension") {
                defined = true;
                out = out.union(if name == "extension" { member_of_type("Extension") } else { Types::Unknown });
            }
            continue;
        }
        let Some(owner) = t.owner else {
            defined = true;
            out = Types::Unknown;
            continue;
        };
        if let Some(el) = m.element(owner, name) {
            defined = true;
            out = match &el.kind {
                ElementKind::Single(target) => out.union(of_target(target)),
                ElementKind::Choice(alts) => alts.iter().fold(out, |acc, (_, target)| acc.union(of_target(target))),
            };
        }
    }
    if defined {
        Ok(out)
    } else {
        let on = types.iter().map(|t| t.name).collect::<Vec<_>>().join(" | ");
        Err(EvalError::UnknownElement { name: name.to_owned(), on })
    }
}

fn member_of_type(name: &str) -> Types {
    let m = model();
    match m.type_name(name) {
        Some(n) => Types::Known(vec![Ty { name: n, owner: m.type_owner(n) }]),
        None => Types::Unknown,
    }
}
