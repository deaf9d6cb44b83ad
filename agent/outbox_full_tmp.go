package agent

// Full is a placeholder until the capped outbox lands.
func (o *Outbox) Full() bool { return false }
