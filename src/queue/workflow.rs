//! The SP4N-LAPOR! workflow in one place: statuses, the actions admins take, which action
//! may move which status where, and who may take it.
//!
//! Every change to a complaint's status goes through [`plan`]; the service applies the
//! returned [`Step`] in a transaction and audits it. Nothing else writes `status`
//! (ingest re-opens an answered complaint through the same table, as the citizen).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Verified,
    Forwarded,
    InProgress,
    Answered,
    Closed,
    OnHold,
    NotAuthority,
    Archived,
    Rejected,
    Merged,
}

impl Status {
    pub const ALL: [Status; 11] = [
        Status::New,
        Status::Verified,
        Status::Forwarded,
        Status::InProgress,
        Status::Answered,
        Status::Closed,
        Status::OnHold,
        Status::NotAuthority,
        Status::Archived,
        Status::Rejected,
        Status::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Verified => "verified",
            Status::Forwarded => "forwarded",
            Status::InProgress => "in_progress",
            Status::Answered => "answered",
            Status::Closed => "closed",
            Status::OnHold => "on_hold",
            Status::NotAuthority => "not_authority",
            Status::Archived => "archived",
            Status::Rejected => "rejected",
            Status::Merged => "merged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Statuses in which a complaint is still waiting for somebody in the government.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::New
                | Status::Verified
                | Status::Forwarded
                | Status::InProgress
                | Status::NotAuthority
                | Status::OnHold
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including channels and users.
    Operator,
    /// Admin instansi: verifies and forwards everything.
    Coordinator,
    /// Admin penghubung: works its own unit's complaints.
    UnitAdmin,
    /// Pejabat penghubung: approves its unit's answers.
    Liaison,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Operator,
        Role::Coordinator,
        Role::UnitAdmin,
        Role::Liaison,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Coordinator => "coordinator",
            Role::UnitAdmin => "unit_admin",
            Role::Liaison => "liaison",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Sees every complaint (not only its unit's) and who filed an anonymous one.
    pub fn is_central(self) -> bool {
        matches!(self, Role::Operator | Role::Coordinator)
    }

    pub fn needs_unit(self) -> bool {
        matches!(self, Role::UnitAdmin | Role::Liaison)
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub unit: Option<String>,
}

impl Actor {
    /// Whether this actor may see the complaint at all (unit roles: their unit's only).
    pub fn can_see(&self, complaint_unit: Option<&str>) -> bool {
        self.role.is_central() || (self.unit.is_some() && self.unit.as_deref() == complaint_unit)
    }

    /// Whether this actor may see who filed it.
    pub fn can_see_identity(&self, anonymous: bool) -> bool {
        !anonymous || self.role.is_central()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Verify,
    Forward,
    Hold,
    Resume,
    NotAuthority,
    Archive,
    Reject,
    Merge,
    DraftAnswer,
    ApproveAnswer,
    ReturnAnswer,
    Close,
    /// The citizen replied to an answered or closed complaint (not an admin action).
    Reopen,
}

impl ActionKind {
    pub const ADMIN: [ActionKind; 12] = [
        ActionKind::Verify,
        ActionKind::Forward,
        ActionKind::Hold,
        ActionKind::Resume,
        ActionKind::NotAuthority,
        ActionKind::Archive,
        ActionKind::Reject,
        ActionKind::Merge,
        ActionKind::DraftAnswer,
        ActionKind::ApproveAnswer,
        ActionKind::ReturnAnswer,
        ActionKind::Close,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Verify => "verify",
            ActionKind::Forward => "forward",
            ActionKind::Hold => "hold",
            ActionKind::Resume => "resume",
            ActionKind::NotAuthority => "not_authority",
            ActionKind::Archive => "archive",
            ActionKind::Reject => "reject",
            ActionKind::Merge => "merge",
            ActionKind::DraftAnswer => "answer",
            ActionKind::ApproveAnswer => "approve",
            ActionKind::ReturnAnswer => "return",
            ActionKind::Close => "close",
            ActionKind::Reopen => "reopen",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ADMIN
            .into_iter()
            .chain([ActionKind::Reopen])
            .find(|a| a.as_str() == s)
    }

    /// Whether the action needs a reason (it is shown in the audit trail).
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            ActionKind::Hold
                | ActionKind::NotAuthority
                | ActionKind::Archive
                | ActionKind::Reject
                | ActionKind::ReturnAnswer
        )
    }

    /// The roles that may take it (before the unit check).
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            ActionKind::Verify
            | ActionKind::Forward
            | ActionKind::Resume
            | ActionKind::Archive
            | ActionKind::Reject
            | ActionKind::Merge
            | ActionKind::Close => &[Operator, Coordinator],
            ActionKind::Hold => &[Operator, Coordinator, UnitAdmin],
            ActionKind::NotAuthority | ActionKind::DraftAnswer => {
                &[Operator, Coordinator, UnitAdmin]
            }
            ActionKind::ApproveAnswer | ActionKind::ReturnAnswer => &[Operator, Liaison],
            ActionKind::Reopen => &[],
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may not see this complaint: answered as "not found", so that a unit
    /// cannot probe for other units' tracking numbers.
    #[error("no such complaint")]
    NotVisible,
    #[error("{role} may not {action}")]
    Forbidden {
        role: &'static str,
        action: &'static str,
    },
    #[error("cannot {action} a complaint that is {status}")]
    Conflict {
        action: &'static str,
        status: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

/// What applying an action does to the complaint's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub from: Status,
    pub to: Status,
}

/// The transition table: the status an action leads to from `from`, or `None` if the
/// action does not apply there. `held_from` is where a held complaint resumes.
pub fn next_status(action: ActionKind, from: Status, held_from: Option<Status>) -> Option<Status> {
    use ActionKind as A;
    use Status as S;
    match (action, from) {
        (A::Verify, S::New) => Some(S::Verified),
        (A::Forward, S::Verified | S::NotAuthority) => Some(S::Forwarded),
        (A::Hold, S::New | S::Verified | S::Forwarded | S::InProgress) => Some(S::OnHold),
        (A::Resume, S::OnHold) => Some(held_from.unwrap_or(S::New)),
        (A::NotAuthority, S::Forwarded | S::InProgress) => Some(S::NotAuthority),
        (A::Archive, S::New | S::Verified | S::OnHold | S::NotAuthority | S::Closed) => {
            Some(S::Archived)
        }
        (A::Reject, S::New | S::Verified | S::OnHold) => Some(S::Rejected),
        (A::Merge, S::New | S::Verified | S::Forwarded | S::InProgress | S::OnHold) => {
            Some(S::Merged)
        }
        (A::DraftAnswer, S::Forwarded | S::InProgress) => Some(S::InProgress),
        (A::ApproveAnswer | A::ReturnAnswer, S::InProgress) => {
            Some(if action == A::ApproveAnswer {
                S::Answered
            } else {
                S::InProgress
            })
        }
        (A::Close, S::Answered) => Some(S::Closed),
        (A::Reopen, S::Answered | S::Closed) => Some(S::InProgress),
        _ => None,
    }
}

/// Decides whether `actor` may take `action` on a complaint in `from` that belongs to
/// `unit` (a unit role acts only on its own unit's complaints).
pub fn plan(
    actor: &Actor,
    action: ActionKind,
    from: Status,
    held_from: Option<Status>,
    unit: Option<&str>,
) -> Result<Step, Refusal> {
    if !actor.can_see(unit) {
        return Err(Refusal::NotVisible);
    }
    if !action.roles().contains(&actor.role) {
        return Err(Refusal::Forbidden {
            role: actor.role.as_str(),
            action: action.as_str(),
        });
    }
    match next_status(action, from, held_from) {
        Some(to) => Ok(Step { from, to }),
        None => Err(Refusal::Conflict {
            action: action.as_str(),
            status: from.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, unit: Option<&str>) -> Actor {
        Actor {
            user_id: 1,
            username: "u".into(),
            role,
            unit: unit.map(str::to_owned),
        }
    }

    #[test]
    fn the_happy_path_of_lapor() {
        let coord = actor(Role::Coordinator, None);
        let unit = actor(Role::UnitAdmin, Some("dpupr"));
        let liaison = actor(Role::Liaison, Some("dpupr"));
        let s = plan(&coord, ActionKind::Verify, Status::New, None, None).unwrap();
        assert_eq!(s.to, Status::Verified);
        let s = plan(&coord, ActionKind::Forward, s.to, None, None).unwrap();
        assert_eq!(s.to, Status::Forwarded);
        let s = plan(&unit, ActionKind::DraftAnswer, s.to, None, Some("dpupr")).unwrap();
        assert_eq!(s.to, Status::InProgress);
        let s = plan(
            &liaison,
            ActionKind::ApproveAnswer,
            s.to,
            None,
            Some("dpupr"),
        )
        .unwrap();
        assert_eq!(s.to, Status::Answered);
        assert_eq!(
            next_status(ActionKind::Reopen, Status::Answered, None),
            Some(Status::InProgress)
        );
        let s = plan(
            &coord,
            ActionKind::Close,
            Status::Answered,
            None,
            Some("dpupr"),
        )
        .unwrap();
        assert_eq!(s.to, Status::Closed);
    }

    #[test]
    fn units_never_reach_other_units_and_cannot_approve_their_own_answers() {
        let unit = actor(Role::UnitAdmin, Some("dpupr"));
        assert_eq!(
            plan(
                &unit,
                ActionKind::DraftAnswer,
                Status::Forwarded,
                None,
                Some("disdukcapil")
            ),
            Err(Refusal::NotVisible)
        );
        assert_eq!(
            plan(&unit, ActionKind::DraftAnswer, Status::New, None, None),
            Err(Refusal::NotVisible)
        );
        assert!(matches!(
            plan(
                &unit,
                ActionKind::ApproveAnswer,
                Status::InProgress,
                None,
                Some("dpupr")
            ),
            Err(Refusal::Forbidden { .. })
        ));
        assert!(matches!(
            plan(
                &unit,
                ActionKind::Forward,
                Status::Forwarded,
                None,
                Some("dpupr")
            ),
            Err(Refusal::Forbidden { .. })
        ));
    }

    #[test]
    fn hold_resumes_where_it_was_and_terminal_states_stay_put() {
        let coord = actor(Role::Coordinator, None);
        let s = plan(&coord, ActionKind::Hold, Status::Forwarded, None, Some("x")).unwrap();
        assert_eq!(s.to, Status::OnHold);
        let s = plan(
            &coord,
            ActionKind::Resume,
            Status::OnHold,
            Some(Status::Forwarded),
            None,
        )
        .unwrap();
        assert_eq!(s.to, Status::Forwarded);
        for terminal in [Status::Rejected, Status::Merged, Status::Archived] {
            for a in ActionKind::ADMIN {
                assert_eq!(
                    next_status(a, terminal, None),
                    None,
                    "{a:?} from {terminal:?}"
                );
            }
        }
    }

    #[test]
    fn every_name_round_trips() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_ne!(crate::store::status_label(s.as_str()), "Tidak diketahui");
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        for a in ActionKind::ADMIN {
            assert_eq!(ActionKind::parse(a.as_str()), Some(a));
        }
    }
}
