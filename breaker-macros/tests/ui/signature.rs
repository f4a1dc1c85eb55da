// A function #[circuit] cannot protect. (A non-literal option value of the wrong type is left to
// the type checker, which points at the value; not tested here, since its note quotes
// breaker-core's source file and line, which move.)
use breaker_tokio::circuit;

#[derive(Debug)]
struct E;

#[circuit]
async fn not_a_result() -> u32 { 1 }

#[circuit]
fn error_type_not_written_out() -> std::io::Result<()> { Ok(()) }

fn main() {}
