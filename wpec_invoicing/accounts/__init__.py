"""The lifecycle of each mailbox: the provider's soft-closure procedure, its notices, and the
signed reactivation request.

`lifecycle` is the pure state machine (a state + dates + an injectable clock → the next state
or a refusal saying why); `notices` says which notices are due; `request` checks a signed
reactivation request with the cms engine; `service` ties them to the store, the outbox and the
ordinary-mail relay.

May import: formats, `store/`, other services (`outbox/`, `mailbox/`); never `app/`, `cli/`
or `web/`.
"""
