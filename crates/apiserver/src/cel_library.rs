//! The functions of Kubernetes' CEL libraries (`k8s.io/apiserver/pkg/cel/
//! library`) served to CRD rules beside cel-rust's standard library and its
//! string and list extensions: the lists library's `isSorted`, `sum`, `min`
//! and `max`, and the quantity library (`quantity`, `isQuantity`,
//! comparisons, `sign`, `isInteger`, `asInteger`, `asApproximateFloat`),
//! on kbind's own `resource.Quantity` reading. What is not served is named
//! in `UNSERVED`.

use std::cmp::Ordering;
use std::sync::Arc;

use cel::extractors::This;
use cel::{ExecutionError, Value};

use super::quantity::{self, Quantity};

/// The Kubernetes library functions not served here: a rule calling one is
/// skipped, not refused, since a real server would evaluate it.
/// (`indexOf` and `lastIndexOf` are cel-rust's on strings, not lists.)
pub const UNSERVED: &[&str] = &[
    "indexOf",
    "lastIndexOf",
    "find",
    "findAll",
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "add",
    "sub",
    "ip",
    "isIP",
    "cidr",
    "isCIDR",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "isCanonical",
    "containsIP",
    "containsCIDR",
    "prefixLength",
    "masked",
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    "validate",
    "named",
    "timestamp",
    "duration",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

type List = This<Arc<Vec<Value>>>;

/// A quantity as a CEL value; equal to another of the same amount
/// (`quantity('1Gi') == quantity('1024Mi')`), as `Quantity.Equal` says.
#[derive(Debug)]
struct CelQuantity(Quantity);

impl PartialEq for CelQuantity {
    fn eq(&self, other: &Self) -> bool {
        self.0.cmp(&other.0) == Ordering::Equal
    }
}

impl Eq for CelQuantity {}

impl cel::objects::Opaque for CelQuantity {
    fn runtime_type_name(&self) -> &str {
        "kubernetes.Quantity"
    }
}

fn quantity_of(value: &Value, function: &str) -> Result<Quantity, ExecutionError> {
    match value {
        Value::Opaque(o) => o.downcast_ref::<CelQuantity>().map(|q| q.0),
        _ => None,
    }
    .ok_or_else(|| ExecutionError::function_error(function, "no such overload"))
}

/// A context for one evaluation, with the library's functions.
pub fn context(env: Arc<cel::Env>) -> cel::Context<'static, 'static> {
    let mut context = cel::Context::with_env(env);
    // Each name is new to this context's own functions: adding it cannot
    // clash, and a failure would only leave the function unserved.
    let _ = context.add_function("isSorted", |This(list): List| -> bool {
        list.windows(2)
            .all(|w| w[0].partial_cmp(&w[1]).is_some_and(Ordering::is_le))
    });
    let _ = context.add_function("sum", |This(list): List| -> Result<Value, ExecutionError> {
        list.iter()
            .try_fold(Value::Int(0), |total, item| match (&total, item) {
                (Value::Int(a), Value::Int(b)) => a
                    .checked_add(*b)
                    .map(Value::Int)
                    .ok_or_else(|| ExecutionError::function_error("sum", "integer overflow")),
                (Value::Int(0), Value::Float(b)) => Ok(Value::Float(*b)),
                (Value::Float(a), Value::Float(b)) => Ok(Value::Float(a + b)),
                _ => Err(ExecutionError::function_error("sum", "no such overload")),
            })
    });
    for (name, wanted) in [("min", Ordering::Less), ("max", Ordering::Greater)] {
        let _ = context.add_function(
            name,
            move |This(list): List| -> Result<Value, ExecutionError> {
                list.iter()
                    .cloned()
                    .reduce(|best, item| {
                        if item.partial_cmp(&best) == Some(wanted) {
                            item
                        } else {
                            best
                        }
                    })
                    .ok_or_else(|| ExecutionError::function_error(name, "called on empty list"))
            },
        );
    }
    let _ = context.add_function(
        "quantity",
        |text: Arc<String>| -> Result<Value, ExecutionError> {
            quantity::parse(&text)
                .map(|q| Value::Opaque(Arc::new(CelQuantity(q))))
                .map_err(|e| ExecutionError::function_error("quantity", e))
        },
    );
    let _ = context.add_function("isQuantity", |text: Arc<String>| -> bool {
        quantity::parse(&text).is_ok()
    });
    for (name, wanted) in [
        ("isLessThan", Ordering::Less),
        ("isGreaterThan", Ordering::Greater),
    ] {
        let _ = context.add_function(
            name,
            move |This(q): This<Value>, other: Value| -> Result<bool, ExecutionError> {
                Ok(quantity_of(&q, name)?.cmp(&quantity_of(&other, name)?) == wanted)
            },
        );
    }
    let _ = context.add_function(
        "compareTo",
        |This(q): This<Value>, other: Value| -> Result<i64, ExecutionError> {
            let order = quantity_of(&q, "compareTo")?.cmp(&quantity_of(&other, "compareTo")?);
            Ok(order as i64)
        },
    );
    let _ = context.add_function(
        "sign",
        |This(q): This<Value>| -> Result<i64, ExecutionError> {
            let q = quantity_of(&q, "sign")?;
            Ok(if q.is_negative() {
                -1
            } else if q.approximate() == 0.0 {
                0
            } else {
                1
            })
        },
    );
    let _ = context.add_function(
        "isInteger",
        |This(q): This<Value>| -> Result<bool, ExecutionError> {
            Ok(quantity_of(&q, "isInteger")?
                .integer()
                .is_some_and(|i| i64::try_from(i).is_ok()))
        },
    );
    let _ = context.add_function(
        "asInteger",
        |This(q): This<Value>| -> Result<i64, ExecutionError> {
            quantity_of(&q, "asInteger")?
                .integer()
                .and_then(|i| i64::try_from(i).ok())
                .ok_or_else(|| {
                    ExecutionError::function_error(
                        "asInteger",
                        "cannot convert value to integer, loss of precision or overflow",
                    )
                })
        },
    );
    let _ = context.add_function(
        "asApproximateFloat",
        |This(q): This<Value>| -> Result<f64, ExecutionError> {
            Ok(quantity_of(&q, "asApproximateFloat")?.approximate())
        },
    );
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(rule: &str) -> Result<Value, ExecutionError> {
        let env = Arc::new(cel::Env::stdlib());
        let program = env.compile(rule).unwrap();
        program.execute(&context(env))
    }

    #[test]
    fn quantities_compare_by_amount() {
        for rule in [
            "quantity('500m').isLessThan(quantity('1'))",
            "quantity('2Gi').isGreaterThan(quantity('2G'))",
            "quantity('1Gi') == quantity('1024Mi')",
            "quantity('1Gi').compareTo(quantity('1024Mi')) == 0",
            "quantity('-1').sign() == -1 && quantity('0').sign() == 0",
            "quantity('1k').isInteger() && quantity('1k').asInteger() == 1000",
            "!quantity('1.5').isInteger()",
            "quantity('1.5').asApproximateFloat() == 1.5",
            "isQuantity('10Mi') && !isQuantity('10MB')",
            "[1, 2, 2].isSorted() && [3, 4].sum() == 7 && [5, 1].min() == 1",
        ] {
            assert_eq!(eval(rule), Ok(Value::Bool(true)), "{rule}");
        }
        assert!(eval("quantity('1.5').asInteger() == 1").is_err());
        assert!(eval("quantity('10MB')").is_err());
    }
}
