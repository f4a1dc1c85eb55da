// What the macro cannot see is left to the type checker, which points at the option's value.
use breaker_tokio::circuit;

#[derive(Debug)]
struct E;

const THRESHOLD: u8 = 3;

#[circuit(failure_threshold = THRESHOLD)]
async fn threshold_of_the_wrong_type() -> Result<(), E> { Ok(()) }

#[circuit]
async fn not_a_result() -> u32 { 1 }

#[circuit]
fn error_type_not_written_out() -> std::io::Result<()> { Ok(()) }

fn main() {}
