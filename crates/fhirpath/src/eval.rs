//! The evaluator: walks the syntax tree over collections of items, keeping `$this`, `$index`
//! and `$total` in a scope, and hands operators and functions to their modules.

use serde_json::Value;

use crate::ast::{Func, Node, TypeFn, TypeSpec};
use crate::env::Env;
use crate::error::EvalError;
use crate::functions;
use crate::item::Item;
use crate::model::{model, Model};
use crate::navigation;
use crate::operators;

pub(crate) struct Evaluator<'a, 'e> {
    pub env: &'e Env<'a>,
    /// The resource evaluated: `%resource`, `%context`, `%rootResource`.
    pub root: Option<Item<'a>>,
    pub root_json: &'a Value,
}

/// The iteration variables in force.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'s, 'a> {
    pub this: &'s [Item<'a>],
    pub index: Option<usize>,
    pub total: Option<&'s [Item<'a>]>,
}

pub(crate) type Items<'a> = Vec<Item<'a>>;

impl<'a> Evaluator<'a, '_> {
    pub(crate) fn strict(&self) -> bool {
        self.env.strict
    }

    pub(crate) fn eval(&self, node: &Node, scope: Scope<'_, 'a>) -> Result<Items<'a>, EvalError> {
        match node {
            Node::Literal(item) => Ok(vec![item.clone()]),
            Node::Empty => Ok(Vec::new()),
            Node::This => Ok(scope.this.to_vec()),
            Node::Index => Ok(scope.index.map(|i| Item::Integer(i as i64)).into_iter().collect()),
            Node::Total => Ok(scope.total.map(<[Item<'a>]>::to_vec).unwrap_or_default()),
            Node::Variable(name) => self.variable(name),
            Node::Member(base, name) => {
                let owned;
                let input = match base {
                    Some(b) => {
                        owned = self.eval(b, scope)?;
                        owned.as_slice()
                    }
                    None => scope.this,
                };
                if self.strict() {
                    if let Some(b) = base {
                        static_check(b, name)?;
                    }
                }
                let mut out = Vec::new();
                let mut defined = input.is_empty();
                for item in input {
                    defined |= navigation::member(item, name, &mut out);
                }
                if !defined && self.strict() {
                    // No item of the input has such an element (what static typing would reject).
                    let on = input.first().map(|i| i.type_info().name.into_owned()).unwrap_or_default();
                    return Err(EvalError::UnknownElement { name: name.clone(), on });
                }
                Ok(out)
            }
            Node::Call(base, call) => match base {
                Some(b) => {
                    if self.env.check_ordered_functions {
                        functions::check_ordered(call.func, b)?;
                    }
                    let input = self.eval(b, scope)?;
                    functions::call(self, call, &input, scope)
                }
                None => functions::call(self, call, scope.this, scope),
            },
            Node::Indexer(base, index) => {
                let input = self.eval(base, scope)?;
                let idx = self.eval(index, scope)?;
                let i = match idx.as_slice() {
                    [] => return Ok(Vec::new()),
                    [one] => match one.to_system().as_deref() {
                        Some(Item::Integer(i)) => *i,
                        _ => return Err(EvalError::type_error("an index must be an Integer")),
                    },
                    _ => return Err(EvalError::NotSingleton { context: "an index", count: idx.len() }),
                };
                Ok(usize::try_from(i).ok().and_then(|i| input.into_iter().nth(i)).into_iter().collect())
            }
            Node::Unary(op, operand) => {
                let v = self.eval(operand, scope)?;
                operators::unary(*op, v)
            }
            Node::Binary(op, lhs, rhs) => operators::binary(self, *op, lhs, rhs, scope),
            Node::TypeOp(f, operand, spec) => {
                let input = self.eval(operand, scope)?;
                type_op(self, *f, &input, spec)
            }
        }
    }

    fn variable(&self, name: &str) -> Result<Items<'a>, EvalError> {
        match name {
            "resource" | "context" | "rootResource" => return Ok(self.root.clone().into_iter().collect()),
            _ => {}
        }
        if let Some(v) = self.env.variables.get(name) {
            return Ok(v.clone());
        }
        let s = |v: String| Ok(vec![Item::String(v)]);
        match name {
            "ucum" => s("http://unitsofmeasure.org".into()),
            "sct" => s("http://snomed.info/sct".into()),
            "loinc" => s("http://loinc.org".into()),
            _ => {
                if let Some(vs) = name.strip_prefix("vs-") {
                    s(format!("http://hl7.org/fhir/ValueSet/{vs}"))
                } else if let Some(ext) = name.strip_prefix("ext-") {
                    s(format!("http://hl7.org/fhir/StructureDefinition/{ext}"))
                } else {
                    Err(EvalError::UnknownVariable(name.to_owned()))
                }
            }
        }
    }
}

/// Strict mode: `(x as Period).unit` is an error even when nothing is a Period, because the
/// static type of `x as T` (and of `ofType(T)`) is `T`, which has no such element.
fn static_check(base: &Node, name: &str) -> Result<(), EvalError> {
    let spec = match base {
        Node::TypeOp(TypeFn::As, _, spec) => spec,
        Node::Call(_, call) if matches!(call.func, Func::As | Func::OfType) => match &call.type_arg {
            Some(spec) => spec,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let Some(ty) = spec.fhir else { return Ok(()) };
    let m = model();
    let defined = if Model::is_primitive(ty) {
        matches!(name, "id" | "extension")
    } else {
        match m.type_owner(ty) {
            Some(owner) => m.element(owner, name).is_some(),
            None => true,
        }
    };
    if defined {
        Ok(())
    } else {
        Err(EvalError::UnknownElement { name: name.to_owned(), on: ty.to_owned() })
    }
}

/// Whether `item` is of the type (`is`), or exactly of it (`as`, `ofType`: FHIR primitives
/// must match exactly, `code` is not taken `as(string)`; complex types and resources match
/// their subtypes).
pub(crate) fn has_type(item: &Item<'_>, spec: &TypeSpec, exact: bool) -> bool {
    match item {
        Item::Node { type_name: Some(t), .. } => match spec.fhir {
            Some(want) => {
                if exact && Model::is_primitive(want) {
                    t == want
                } else {
                    model().is_subtype(t, want)
                }
            }
            None => false,
        },
        Item::Node { type_name: None, .. } => false,
        other => match spec.system {
            Some(sys) => other.type_info().name == sys.name(),
            None => false,
        },
    }
}

pub(crate) fn type_op<'a>(ev: &Evaluator<'a, '_>, f: TypeFn, input: &[Item<'a>], spec: &TypeSpec) -> Result<Items<'a>, EvalError> {
    match f {
        TypeFn::Is => match input {
            [] => Ok(Vec::new()),
            [one] => Ok(vec![Item::Boolean(has_type(one, spec, false))]),
            _ => Err(EvalError::NotSingleton { context: "is", count: input.len() }),
        },
        TypeFn::As => {
            if input.len() > 1 && ev.strict() {
                return Err(EvalError::NotSingleton { context: "as", count: input.len() });
            }
            Ok(input.iter().filter(|i| has_type(i, spec, true)).cloned().collect())
        }
        TypeFn::OfType => Ok(input.iter().filter(|i| has_type(i, spec, true)).cloned().collect()),
    }
}
