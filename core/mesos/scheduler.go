package mesos

// Scheduler call types (scheduler.proto Call.Type).
const (
	CallSubscribe   = "SUBSCRIBE"
	CallTeardown    = "TEARDOWN"
	CallAccept      = "ACCEPT"
	CallDecline     = "DECLINE"
	CallRevive      = "REVIVE"
	CallSuppress    = "SUPPRESS"
	CallKill        = "KILL"
	CallShutdown    = "SHUTDOWN"
	CallAcknowledge = "ACKNOWLEDGE"
	CallReconcile   = "RECONCILE"
	CallMessage     = "MESSAGE"
	CallRequest     = "REQUEST"
)

// Offer operation types (mesos.proto Offer.Operation.Type).
const (
	OpLaunch = "LAUNCH"
)

// Call is scheduler.proto Call.
type Call struct {
	FrameworkID *FrameworkID `json:"framework_id,omitempty"`
	Type        string       `json:"type"`

	Subscribe   *CallSubscribeBody   `json:"subscribe,omitempty"`
	Accept      *CallAcceptBody      `json:"accept,omitempty"`
	Decline     *CallDeclineBody     `json:"decline,omitempty"`
	Revive      *CallReviveBody      `json:"revive,omitempty"`
	Suppress    *CallSuppressBody    `json:"suppress,omitempty"`
	Kill        *CallKillBody        `json:"kill,omitempty"`
	Acknowledge *CallAcknowledgeBody `json:"acknowledge,omitempty"`
	Reconcile   *CallReconcileBody   `json:"reconcile,omitempty"`
	Message     *CallMessageBody     `json:"message,omitempty"`
}

// CallSubscribeBody is Call.Subscribe.
type CallSubscribeBody struct {
	FrameworkInfo FrameworkInfo `json:"framework_info"`
}

// LaunchOperation is Offer.Operation.Launch.
type LaunchOperation struct {
	TaskInfos []TaskInfo `json:"task_infos"`
}

// Operation is Offer.Operation.
type Operation struct {
	Type   string           `json:"type"`
	ID     *ID              `json:"id,omitempty"`
	Launch *LaunchOperation `json:"launch,omitempty"`
}

// CallAcceptBody is Call.Accept.
type CallAcceptBody struct {
	OfferIDs   []OfferID   `json:"offer_ids"`
	Operations []Operation `json:"operations"`
	Filters    *Filters    `json:"filters,omitempty"`
}

// CallDeclineBody is Call.Decline.
type CallDeclineBody struct {
	OfferIDs []OfferID `json:"offer_ids"`
	Filters  *Filters  `json:"filters,omitempty"`
}

// CallReviveBody is Call.Revive.
type CallReviveBody struct {
	Roles []string `json:"roles,omitempty"`
}

// CallSuppressBody is Call.Suppress.
type CallSuppressBody struct {
	Roles []string `json:"roles,omitempty"`
}

// CallKillBody is Call.Kill.
type CallKillBody struct {
	TaskID     TaskID      `json:"task_id"`
	AgentID    *AgentID    `json:"agent_id,omitempty"`
	KillPolicy *KillPolicy `json:"kill_policy,omitempty"`
}

// CallAcknowledgeBody is Call.Acknowledge.
type CallAcknowledgeBody struct {
	AgentID AgentID `json:"agent_id"`
	TaskID  TaskID  `json:"task_id"`
	UUID    []byte  `json:"uuid"`
}

// ReconcileTask is Call.Reconcile.Task.
type ReconcileTask struct {
	TaskID  TaskID   `json:"task_id"`
	AgentID *AgentID `json:"agent_id,omitempty"`
}

// CallReconcileBody is Call.Reconcile.
type CallReconcileBody struct {
	Tasks []ReconcileTask `json:"tasks,omitempty"`
}

// CallMessageBody is Call.Message.
type CallMessageBody struct {
	AgentID    AgentID    `json:"agent_id"`
	ExecutorID ExecutorID `json:"executor_id"`
	Data       []byte     `json:"data"`
}

// Scheduler event types (scheduler.proto Event.Type).
const (
	EventSubscribed = "SUBSCRIBED"
	EventOffers     = "OFFERS"
	EventRescind    = "RESCIND"
	EventUpdate     = "UPDATE"
	EventMessage    = "MESSAGE"
	EventFailure    = "FAILURE"
	EventError      = "ERROR"
	EventHeartbeat  = "HEARTBEAT"
)

// Event is scheduler.proto Event.
type Event struct {
	Type       string               `json:"type"`
	Subscribed *EventSubscribedBody `json:"subscribed,omitempty"`
	Offers     *EventOffersBody     `json:"offers,omitempty"`
	Rescind    *EventRescindBody    `json:"rescind,omitempty"`
	Update     *EventUpdateBody     `json:"update,omitempty"`
	Message    *EventMessageBody    `json:"message,omitempty"`
	Failure    *EventFailureBody    `json:"failure,omitempty"`
	Error      *EventErrorBody      `json:"error,omitempty"`
}

// EventSubscribedBody is Event.Subscribed.
type EventSubscribedBody struct {
	FrameworkID              FrameworkID `json:"framework_id"`
	HeartbeatIntervalSeconds float64     `json:"heartbeat_interval_seconds,omitempty"`
	MasterInfo               *MasterInfo `json:"master_info,omitempty"`
}

// EventOffersBody is Event.Offers.
type EventOffersBody struct {
	Offers []Offer `json:"offers"`
}

// EventRescindBody is Event.Rescind.
type EventRescindBody struct {
	OfferID OfferID `json:"offer_id"`
}

// EventUpdateBody is Event.Update.
type EventUpdateBody struct {
	Status TaskStatus `json:"status"`
}

// EventMessageBody is Event.Message.
type EventMessageBody struct {
	AgentID    AgentID    `json:"agent_id"`
	ExecutorID ExecutorID `json:"executor_id"`
	Data       []byte     `json:"data"`
}

// EventFailureBody is Event.Failure.
type EventFailureBody struct {
	AgentID    *AgentID    `json:"agent_id,omitempty"`
	ExecutorID *ExecutorID `json:"executor_id,omitempty"`
	Status     *int32      `json:"status,omitempty"`
}

// EventErrorBody is Event.Error.
type EventErrorBody struct {
	Message string `json:"message"`
}
