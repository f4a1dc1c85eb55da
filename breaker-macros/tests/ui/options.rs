// Every option error points at the option.
use breaker_tokio::circuit;

#[derive(Debug)]
struct E;

#[circuit(failure_treshold = 3)]
async fn unknown_option() -> Result<(), E> { Ok(()) }

#[circuit(failure_threshold = "ten")]
async fn threshold_not_an_integer() -> Result<(), E> { Ok(()) }

#[circuit(failure_threshold = 0)]
async fn zero_threshold() -> Result<(), E> { Ok(()) }

#[circuit(recovery = "30 seconds")]
async fn unreadable_duration() -> Result<(), E> { Ok(()) }

#[circuit(name = billing)]
async fn name_not_a_string() -> Result<(), E> { Ok(()) }

#[circuit(failure_threshold = 3, failure_threshold = 4)]
async fn given_twice() -> Result<(), E> { Ok(()) }

fn main() {}
