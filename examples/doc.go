// Package examples holds deployable examples of calling the function: a Step
// Functions state machine (statemachine.asl.json, statemachine.yaml) and one
// that loops over a resumable export (statemachine-resumable.*), the flow
// orchestrator's registration, envelopes and a looping flow (orchestrator/),
// and events for aws lambda invoke and the CLI (events/). It has no code; its tests
// check that every example is well formed and that the handler accepts each
// event as it stands.
package examples
