//! `aduan complaints`: reading complaints and working them through the workflow.

use std::process::ExitCode;

use clap::Subcommand;

use super::ready_store;
use crate::config::Config;
use crate::registry::{builtin_factories, Channels};
use crate::store::{ComplaintFilter, ComplaintRecord};

#[derive(Subcommand)]
pub(super) enum ComplaintsCommand {
    /// Lists complaints, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Shows one complaint with its whole thread. An anonymous reporter is left out
    /// unless --reveal-identity is given, which is recorded in the audit trail.
    Show {
        tracking_id: String,
        #[arg(long)]
        json: bool,
        /// Shows who filed an anonymous complaint, as the operator or coordinator --as.
        #[arg(long, requires = "username")]
        reveal_identity: bool,
        /// Who asks (with --reveal-identity): the view is audited as this user.
        #[arg(long = "as", value_name = "USERNAME")]
        username: Option<String>,
    },
    /// Claims a complaint for --as (or the oldest waiting one with `next`).
    Claim {
        tracking_id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Verifies a new complaint.
    Verify {
        tracking_id: String,
        #[arg(long)]
        classification: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        who: Who,
    },
    /// Forwards a verified complaint to a unit.
    Forward {
        tracking_id: String,
        #[arg(long)]
        unit: String,
        #[command(flatten)]
        who: Who,
    },
    /// Drafts the unit's answer (it waits for the liaison's approval).
    Answer {
        tracking_id: String,
        #[arg(long)]
        body: String,
        #[command(flatten)]
        who: Who,
    },
    /// Approves the waiting answer: it goes to the citizen on the complaint's channel.
    Approve {
        tracking_id: String,
        #[command(flatten)]
        who: Who,
    },
    /// Closes an answered complaint.
    Close {
        tracking_id: String,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        who: Who,
    },
}

/// Who acts (the action is audited as this user).
#[derive(clap::Args)]
pub(super) struct Who {
    /// The acting user's name.
    #[arg(long = "as", value_name = "USERNAME")]
    username: String,
}

async fn acting(store: &crate::store::Store, who: &Who) -> anyhow::Result<crate::queue::Actor> {
    let u = store
        .user_by_name(&who.username)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| anyhow::anyhow!("no active user {:?}", who.username))?;
    Ok(crate::queue::Actor {
        user_id: u.id,
        username: u.username,
        role: crate::queue::Role::parse(&u.role)
            .ok_or_else(|| anyhow::anyhow!("user {:?} has an unknown role", who.username))?,
        unit: u.unit,
    })
}

async fn act_cli(
    cfg: &Config,
    store: crate::store::Store,
    who: &Who,
    tracking_id: &str,
    action: crate::queue::ActionKind,
    req: crate::queue::ActionRequest,
) -> anyhow::Result<ExitCode> {
    let actor = acting(&store, who).await?;
    let channels = Channels::build(cfg, &builtin_factories())?;
    let queue = crate::queue::Queue::new(store.clone(), crate::app::answer_routes(cfg, &channels)?);
    let res = if action == crate::queue::ActionKind::Reopen {
        queue
            .claim(&actor, tracking_id)
            .await
            .map(|i| (i.record.tracking_id, i.record.status))
    } else {
        queue
            .act(&actor, tracking_id, action, &req)
            .await
            .map(|a| (a.tracking_id, a.status.to_owned()))
    };
    store.close().await;
    match res {
        Ok((tracking_id, status)) => {
            println!("{tracking_id} {status}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("aduan: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

pub(super) async fn run(cfg: &Config, command: ComplaintsCommand) -> anyhow::Result<ExitCode> {
    let store = ready_store(cfg).await?;
    use crate::queue::{ActionKind as K, ActionRequest as R};
    match command {
        ComplaintsCommand::List {
            status,
            limit,
            json,
        } => {
            let mut list = store.complaints(&ComplaintFilter { status, limit }).await?;
            // A list never names an anonymous reporter; `show --reveal-identity` does,
            // audited.
            for c in list.iter_mut().filter(|c| c.anonymous) {
                c.hide_identity();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_table(&list);
            }
        }
        ComplaintsCommand::Show {
            tracking_id,
            json,
            reveal_identity,
            username,
        } => {
            let tid = crate::tracking::TrackingId::parse(&tracking_id)
                .map_err(|_| anyhow::anyhow!("{tracking_id:?} is not a tracking number"))?;
            let Some(mut c) = store.complaint(tid.as_str()).await? else {
                eprintln!("aduan: no complaint {tid}");
                return Ok(ExitCode::from(2));
            };
            if c.anonymous {
                match username.filter(|_| reveal_identity) {
                    // The queue's own reveal: central roles only, audited.
                    Some(username) => {
                        let actor = acting(&store, &Who { username }).await?;
                        let queue = crate::queue::Queue::new(
                            store.clone(),
                            crate::queue::AnswerRoutes::default(),
                        );
                        match queue.show(&actor, tid.as_str(), true).await {
                            Ok(item) => c = item.record,
                            Err(e) => {
                                store.close().await;
                                eprintln!("aduan: {e}");
                                return Ok(ExitCode::from(2));
                            }
                        }
                    }
                    None => c.hide_identity(),
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_complaint(&c);
            }
        }
        ComplaintsCommand::Claim { tracking_id, who } => {
            return act_cli(cfg, store, &who, &tracking_id, K::Reopen, R::default()).await
        }
        ComplaintsCommand::Verify {
            tracking_id,
            classification,
            category,
            title,
            who,
        } => {
            let req = R {
                classification,
                category,
                title,
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Verify, req).await;
        }
        ComplaintsCommand::Forward {
            tracking_id,
            unit,
            who,
        } => {
            let req = R {
                unit: Some(unit),
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Forward, req).await;
        }
        ComplaintsCommand::Answer {
            tracking_id,
            body,
            who,
        } => {
            let req = R {
                body: Some(body),
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::DraftAnswer, req).await;
        }
        ComplaintsCommand::Approve { tracking_id, who } => {
            return act_cli(
                cfg,
                store,
                &who,
                &tracking_id,
                K::ApproveAnswer,
                R::default(),
            )
            .await
        }
        ComplaintsCommand::Close {
            tracking_id,
            reason,
            who,
        } => {
            let req = R {
                reason,
                ..R::default()
            };
            return act_cli(cfg, store, &who, &tracking_id, K::Close, req).await;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn short(s: &str, n: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() > n {
        format!("{}…", one_line.chars().take(n - 1).collect::<String>())
    } else {
        one_line
    }
}

fn print_table(list: &[ComplaintRecord]) {
    println!(
        "{:<10} {:<14} {:<10} {:<20} TITLE",
        "TRACKING", "STATUS", "CHANNEL", "RECEIVED (UTC)"
    );
    for c in list {
        println!(
            "{:<10} {:<14} {:<10} {:<20} {}",
            c.tracking_id,
            c.status,
            c.channel,
            c.received_at.format("%Y-%m-%d %H:%M:%S"),
            short(&c.title, 60)
        );
    }
}

fn print_complaint(c: &ComplaintRecord) {
    println!(
        "{}  [{}]  {} / {}",
        c.tracking_id, c.status, c.channel, c.channel_name
    );
    println!("received: {}", c.received_at.to_rfc3339());
    println!("title:    {}", c.title);
    if let Some(cat) = &c.category {
        println!("category: {cat}");
    }
    if let Some(r) = &c.reporter {
        let who: Vec<&str> = [&r.name, &r.handle, &r.email, &r.phone]
            .into_iter()
            .filter_map(|v| v.as_deref())
            .collect();
        if !who.is_empty() {
            println!("reporter: {}", who.join(", "));
        }
    } else if c.anonymous {
        println!("reporter: hidden (anonymous; --reveal-identity --as USER shows it, audited)");
    }
    println!(
        "flags:    anonymous={} confidential={}",
        c.anonymous, c.confidential
    );
    for a in &c.attachments {
        println!(
            "attachment: {} ({}, {} bytes, sha256 {})",
            a.filename, a.content_type, a.size, a.sha256
        );
    }
    println!();
    println!("{}", c.body);
    for m in &c.messages {
        println!(
            "\n--- {} {} {} ---\n{}",
            m.at.to_rfc3339(),
            m.direction,
            m.channel,
            m.body
        );
    }
}
