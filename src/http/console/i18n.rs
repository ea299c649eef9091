//! The console's words, in Indonesian (the default) and English. One table, so that a
//! missing translation is a compile error, not a blank on the page.

use crate::queue::{ActionKind, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Self {
        if s == "en" {
            Lang::En
        } else {
            Lang::Id
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Id => &ID,
            Lang::En => &EN,
        }
    }
}

macro_rules! texts {
    ($($key:ident: $id:expr, $en:expr;)*) => {
        pub struct Texts { $(pub $key: &'static str,)* }
        static ID: Texts = Texts { $($key: $id,)* };
        static EN: Texts = Texts { $($key: $en,)* };
    };
}

texts! {
    other_lang: "en", "id";
    other_lang_name: "English", "Bahasa Indonesia";
    console: "Konsol Pengaduan", "Complaints Console";
    skip: "Langsung ke isi", "Skip to content";
    menu: "Menu utama", "Main menu";
    queue: "Antrean", "Queue";
    dashboard: "Dasbor", "Dashboard";
    health: "Kesehatan kanal", "Channel health";
    units: "Unit", "Units";
    users: "Pengguna", "Users";
    holidays: "Hari libur", "Holidays";
    categories: "Kategori", "Categories";
    login: "Masuk", "Log in";
    logout: "Keluar", "Log out";
    username: "Nama pengguna", "Username";
    password: "Kata sandi", "Password";
    login_intro: "Masuk untuk mengelola pengaduan masyarakat.", "Log in to work on citizens' complaints.";
    login_failed: "Nama pengguna atau kata sandi salah.", "Wrong username or password.";
    login_throttled: "Terlalu banyak percobaan masuk. Coba lagi dalam", "Too many login attempts. Try again in";
    seconds: "detik", "seconds";
    login_expired: "Formulir kedaluwarsa. Silakan coba lagi.", "The form expired. Please try again.";
    logged_out: "Anda telah keluar.", "You have logged out.";
    // Queue
    search: "Cari", "Search";
    search_hint: "Judul atau isi laporan", "Title or text of the complaint";
    status: "Status", "Status";
    channel: "Kanal", "Channel";
    unit: "Unit", "Unit";
    all: "Semua", "All";
    only_overdue: "Hanya yang terlambat", "Overdue only";
    only_mine: "Yang saya tangani", "Claimed by me";
    apply: "Terapkan", "Apply";
    reset: "Atur ulang", "Reset";
    take_next: "Ambil berikutnya", "Take next";
    nothing_next: "Tidak ada laporan yang menunggu Anda.", "Nothing is waiting for you.";
    tracking: "Nomor", "Number";
    title: "Judul", "Title";
    received: "Diterima", "Received";
    due: "Tenggat", "Due";
    claimed: "Ditangani", "Claimed by";
    overdue: "Terlambat", "Overdue";
    due_today: "Jatuh tempo hari ini", "Due today";
    empty_queue: "Tidak ada laporan yang cocok.", "No complaints match.";
    more: "Berikutnya", "Next page";
    claim: "Ambil", "Claim";
    release: "Lepaskan", "Release";
    claimed_ok: "Laporan diambil. Anda menanganinya selama 15 menit ke depan.", "Claimed. It is yours for the next 15 minutes.";
    released_ok: "Laporan dilepaskan.", "Released.";
    unclaimed: "Belum diambil", "Not claimed";
    // Detail
    thread: "Percakapan", "Conversation";
    from_citizen: "Dari pelapor", "From the reporter";
    to_citizen: "Kepada pelapor", "To the reporter";
    attachments: "Lampiran", "Attachments";
    download: "Unduh", "Download";
    raw: "Data asli (untuk operator)", "Raw original (operators)";
    raw_reveal: "Unduh data asli: memuat identitas pelapor anonim (tercatat di jejak audit)", "Download the raw original: it names the anonymous reporter (recorded in the audit trail)";
    raw_truncated: "Dipotong; unduh untuk melihat seluruhnya.", "Truncated; download to see all of it.";
    reporter: "Pelapor", "Reporter";
    anonymous: "Anonim", "Anonymous";
    confidential: "Rahasia", "Confidential";
    identity_hidden: "Identitas pelapor disembunyikan.", "The reporter's identity is hidden.";
    reveal_identity: "Tampilkan identitas (tercatat di jejak audit)", "Show identity (recorded in the audit trail)";
    name: "Nama", "Name";
    handle: "Akun", "Handle";
    email: "E-mail", "E-mail";
    phone: "Telepon", "Phone";
    location: "Lokasi", "Location";
    occurred: "Tanggal kejadian", "Date of the event";
    category: "Kategori", "Category";
    classification: "Klasifikasi", "Classification";
    none: "—", "—";
    actions: "Tindakan", "Actions";
    no_actions: "Tidak ada tindakan yang dapat Anda ambil pada status ini.", "There is nothing you can do in this status.";
    held_by_other: "Sedang ditangani oleh", "Being handled by";
    you_hold: "Anda menangani laporan ini sampai", "You hold this complaint until";
    reason: "Alasan", "Reason";
    reason_hint: "Wajib diisi; tampil di jejak audit.", "Required; shown in the audit trail.";
    pending_answer: "Jawaban menunggu persetujuan", "Answer waiting for approval";
    composer: "Jawaban", "Answer";
    composer_hint: "Tulis jawaban untuk pelapor. Pejabat penghubung menyetujuinya sebelum dikirim.", "Write the answer to the reporter. The liaison officer approves it before it is sent.";
    limit: "Batas", "Limit";
    characters: "karakter", "characters";
    over_limit: "Melebihi batas kanal: pesan akan dipendekkan.", "Over the channel's limit: the message will be shortened.";
    preview: "Pratinjau", "Preview";
    citizen_receives: "Yang akan diterima pelapor", "What the reporter will receive";
    via: "melalui", "via";
    status_page_only: "Hanya di halaman status laporan: tidak ada kanal yang dapat mengirim jawaban kepada pelapor ini.", "Only on the complaint's status page: no channel can send the answer to this reporter.";
    status_page_too: "Jawaban juga tampil di halaman status publik.", "The answer is also shown on the public status page.";
    confidential_note: "Laporan rahasia: jawaban tidak tampil di halaman status publik.", "Confidential complaint: the answer is not shown on the public status page.";
    audit: "Jejak audit", "Audit trail";
    when: "Waktu", "When";
    who: "Oleh", "By";
    what: "Tindakan", "Action";
    verify_title: "Judul (boleh diperbaiki)", "Title (may be corrected)";
    into: "Nomor laporan tujuan", "Tracking number to merge into";
    merged_into: "Digabungkan ke", "Merged into";
    refers_to: "Merujuk laporan", "Refers to";
    refers_to_note: "milik pelapor lain; pesan ini dicatat sebagai laporan baru.", "of another reporter; this message was filed as a new complaint.";
    done: "Tersimpan.", "Saved.";
    back_to_queue: "Kembali ke antrean", "Back to the queue";
    // Management
    code: "Kode", "Code";
    add: "Tambah", "Add";
    save: "Simpan", "Save";
    delete: "Hapus", "Delete";
    members: "Anggota", "Members";
    no_members: "Belum ada anggota.", "No members yet.";
    display_name: "Nama lengkap", "Full name";
    role: "Peran", "Role";
    active: "Aktif", "Active";
    inactive: "Nonaktif", "Disabled";
    disable: "Nonaktifkan", "Disable";
    password_hint: "Minimal 12 karakter. Kosongkan untuk akun API saja.", "At least 12 characters. Leave empty for an API-only account.";
    token_once: "Token API pengguna ini (hanya ditampilkan sekali):", "This user's API token (shown only once):";
    day: "Tanggal", "Date";
    kind: "Jenis", "Kind";
    libur: "Libur nasional", "Public holiday";
    cuti_bersama: "Cuti bersama", "Collective leave";
    parent: "Induk", "Parent";
    // Health
    health_intro: "Keadaan tiap kanal masuk dan keluar. Angka dihitung dari basis data.", "Each channel's state. Counts come from the database.";
    last_success: "Terakhir berhasil", "Last success";
    last_error: "Galat terakhir", "Last error";
    lag: "Jeda", "Lag";
    restarts: "Mulai ulang", "Restarts";
    polled_by: "Ditarik oleh instans", "Polled by instance";
    this_instance: "instans ini", "this instance";
    complaints_total: "Laporan", "Complaints";
    last_24h: "24 jam terakhir", "Last 24 hours";
    quarantined: "Dikarantina", "Quarantined";
    ignored: "Diabaikan", "Ignored";
    outbox: "Kotak keluar", "Outbox";
    deliveries: "Pesan keluar", "Outgoing messages";
    delivery_ack: "Tanda terima", "Receipt";
    delivery_answer: "Jawaban", "Answer";
    delivery_pending: "Menunggu", "Waiting";
    delivery_sent: "Terkirim", "Sent";
    delivery_delivered: "Sampai", "Delivered";
    delivery_read: "Dibaca", "Read";
    delivery_failed: "Tidak terkirim: jawab dengan cara lain", "Not delivered: answer another way";
    attempts: "percobaan", "attempts";
    pending: "menunggu", "pending";
    failed: "gagal", "failed";
    sent: "terkirim", "sent";
    what_to_do: "Yang perlu dilakukan", "What to do";
    forwards: "Penerusan ke sistem lain yang gagal", "Failed forwarding to other systems";
    forwards_intro: "Kiriman forwarder yang tidak diterima sistem tujuan, dengan alasannya. Setelah penyebabnya diperbaiki, kirim ulang.", "Deliveries another system did not accept, with the reason. Once the cause is mended, send again.";
    no_failed_forwards: "Tidak ada penerusan yang gagal.", "No failed deliveries.";
    forwarder: "Forwarder", "Forwarder";
    event: "Peristiwa", "Event";
    send_again: "Kirim ulang", "Send again";
    never: "belum pernah", "never";
    no_channels: "Tidak ada kanal yang dikonfigurasi.", "No channels are configured.";
    st_ok: "Sehat", "Healthy";
    st_starting: "Memulai", "Starting";
    st_retrying: "Mencoba ulang", "Retrying";
    st_failed: "Gagal", "Failed";
    st_reauthorize: "Perlu otorisasi ulang", "Needs re-authorization";
    st_stopped: "Berhenti", "Stopped";
    st_standby: "Siaga: instans lain yang menarik", "Standby: another instance polls";
    todo_ok: "Tidak ada.", "Nothing.";
    todo_reauthorize: "Token akses kedaluwarsa atau dicabut. Buat token baru di portal pengembang penyedia{hint}, simpan di konfigurasi kanal ini, lalu jalankan ulang layanan. Periksa dengan `aduan check --online`.", "The access token expired or was revoked. Create a new one in the provider's developer portal{hint}, put it in this channel's configuration and restart the service. Check with `aduan check --online`.";
    reauthorize_hint: " (untuk {kind}: {how})", " ({kind}: {how})";
    other_kind: "Lainnya", "Other";
    todo_failed: "Kesalahan permanen: periksa konfigurasi kanal (alamat, akun, izin) sesuai pesan galat, lalu jalankan `aduan check --online`.", "A permanent error: check the channel's configuration (address, account, permissions) against the error, then run `aduan check --online`.";
    todo_retrying: "Gangguan sementara; layanan mencoba ulang sendiri. Bila berlangsung lama, periksa jaringan dan layanan penyedia.", "A temporary fault; the service retries by itself. If it lasts, check the network and the provider's status.";
    todo_outbox_failed: "Ada pesan keluar yang gagal dikirim; lihat galatnya di kotak keluar.", "Some outgoing messages failed; see their errors in the outbox.";
    todo_quarantine: "Ada pesan yang dikarantina (tidak dapat dibaca): periksa alasannya dan data aslinya.", "Some messages are quarantined (could not be read): look at their reasons and raw originals.";
    rejects: "Pesan yang bukan laporan", "Messages that are not complaints";
    rejects_intro: "Pesan yang dikarantina (tidak dapat dibaca) atau diabaikan (balasan otomatis, gema kiriman sendiri, pantulan), 100 terbaru, masing-masing dengan alasan dan data aslinya.", "Messages quarantined (could not be read) or ignored (auto-replies, echoes of our own posts, bounces), the latest 100, each with its reason and raw original.";
    show_rejects: "Lihat pesan yang bukan laporan", "See messages that are not complaints";
    no_rejects: "Tidak ada.", "None.";
    external_id: "ID eksternal", "External id";
    push_only: "Kanal webhook/formulir: tidak menarik data sendiri.", "Webhook/form channel: it does not poll.";
    // Dashboard
    dash_intro: "Ringkasan 14 hari terakhir.", "The last 14 days at a glance.";
    per_channel_day: "Laporan per kanal per hari", "Complaints per channel per day";
    funnel: "Corong status", "Status funnel";
    sla_per_unit: "Kepatuhan tenggat per unit (90 hari)", "Deadline compliance per unit (90 days)";
    on_time: "tepat waktu", "on time";
    late: "terlambat", "late";
    no_data: "Belum ada data.", "No data yet.";
    as_table: "Lihat sebagai tabel", "Show as a table";
    compliance: "Kepatuhan", "Compliance";
    st_ready: "Siap menerima", "Ready to receive";
    funnel_received: "Diterima", "Received";
    side_states: "Di luar alur", "Outside the main flow";
    // Errors
    error: "Terjadi kesalahan", "Something went wrong";
    not_found: "Tidak ditemukan", "Not found";
    forbidden: "Tidak diizinkan", "Not allowed";
    no_such_complaint: "Laporan ini tidak ada atau bukan wewenang unit Anda.", "This complaint does not exist or is not your unit's.";
    no_such_page: "Halaman ini tidak ada.", "There is no such page.";
    not_allowed: "Peran Anda tidak boleh melakukan tindakan ini.", "Your role may not do this.";
    operators_only: "Hanya operator yang boleh membuka halaman ini.", "Only operators may open this page.";
    central_only: "Hanya operator dan koordinator yang boleh membuka halaman ini.", "Only operators and coordinators may open this page.";
    conflict: "Status laporan tidak memungkinkan tindakan ini (mungkin baru saja berubah).", "The complaint's status does not allow this (it may just have changed).";
    invalid: "Isian belum lengkap atau tidak valid", "Something is missing or invalid";
    claimed_by_other: "Laporan sedang ditangani oleh", "The complaint is being handled by";
    try_again: "Gangguan sistem. Silakan coba lagi.", "A system fault. Please try again.";
    csrf_failed: "Formulir tidak sah atau kedaluwarsa. Muat ulang halaman lalu coba lagi.", "The form is invalid or expired. Reload the page and try again.";
    bad_form: "Isian formulir tidak dapat dibaca.", "The form could not be read.";
    too_large: "Kiriman terlalu besar.", "The request is too large.";
}

impl Texts {
    /// Whether these are the English texts (for the few words built from parts).
    pub fn is_en(&self) -> bool {
        std::ptr::eq(self, &EN)
    }

    pub fn role(&self, r: Role) -> &'static str {
        match (r, self.is_en()) {
            (Role::Operator, _) => "Operator",
            (Role::Coordinator, false) => "Koordinator (admin instansi)",
            (Role::Coordinator, true) => "Coordinator",
            (Role::UnitAdmin, false) => "Admin penghubung",
            (Role::UnitAdmin, true) => "Unit admin",
            (Role::Liaison, false) => "Pejabat penghubung",
            (Role::Liaison, true) => "Liaison officer",
        }
    }

    pub fn status(&self, s: &str) -> &'static str {
        if !self.is_en() {
            return crate::store::status_label(s);
        }
        match s {
            "new" => "Not verified",
            "verified" => "Verified",
            "forwarded" => "Forwarded",
            "in_progress" => "In progress",
            "answered" => "Answered",
            "closed" => "Closed",
            "on_hold" => "On hold",
            "not_authority" => "Not our authority",
            "archived" => "Archived",
            "rejected" => "Rejected",
            "merged" => "Merged",
            _ => "Unknown",
        }
    }

    /// The button that takes an action.
    pub fn action(&self, a: ActionKind) -> &'static str {
        match (a, self.is_en()) {
            (ActionKind::Verify, false) => "Verifikasi",
            (ActionKind::Verify, true) => "Verify",
            (ActionKind::Forward, false) => "Teruskan ke unit",
            (ActionKind::Forward, true) => "Forward to unit",
            (ActionKind::Hold, false) => "Tunda",
            (ActionKind::Hold, true) => "Put on hold",
            (ActionKind::Resume, false) => "Lanjutkan",
            (ActionKind::Resume, true) => "Resume",
            (ActionKind::NotAuthority, false) => "Bukan wewenang",
            (ActionKind::NotAuthority, true) => "Not our authority",
            (ActionKind::Archive, false) => "Arsipkan",
            (ActionKind::Archive, true) => "Archive",
            (ActionKind::Reject, false) => "Tolak",
            (ActionKind::Reject, true) => "Reject",
            (ActionKind::Merge, false) => "Gabungkan",
            (ActionKind::Merge, true) => "Merge",
            (ActionKind::DraftAnswer, false) => "Kirim jawaban untuk disetujui",
            (ActionKind::DraftAnswer, true) => "Submit answer for approval",
            (ActionKind::ApproveAnswer, false) => "Setujui",
            (ActionKind::ApproveAnswer, true) => "Approve",
            (ActionKind::ReturnAnswer, false) => "Kembalikan",
            (ActionKind::ReturnAnswer, true) => "Return",
            (ActionKind::Close, false) => "Selesaikan",
            (ActionKind::Close, true) => "Close",
            (ActionKind::Reopen, false) => "Buka kembali",
            (ActionKind::Reopen, true) => "Reopen",
        }
    }

    /// An audit event's action in words.
    pub fn audit_action(&self, a: &str) -> String {
        match ActionKind::parse(a) {
            Some(k) => self.action(k).to_owned(),
            None => match (a, self.is_en()) {
                ("overdue", false) => "Melewati tenggat".into(),
                ("overdue", true) => "Deadline passed".into(),
                ("view_identity", false) => "Melihat identitas pelapor".into(),
                ("view_identity", true) => "Viewed the reporter's identity".into(),
                ("anonymity_lifted", false) => "Membuka anonimitas pelapor".into(),
                ("anonymity_lifted", true) => "Lifted the reporter's anonymity".into(),
                ("anonymity_set", false) => "Menjadikan pelapor anonim".into(),
                ("anonymity_set", true) => "Made the reporter anonymous".into(),
                (other, _) => other.to_owned(),
            },
        }
    }

    pub fn classification(&self, c: &str) -> &'static str {
        match (c, self.is_en()) {
            ("pengaduan", false) => "Pengaduan",
            ("pengaduan", true) => "Complaint",
            ("aspirasi", false) => "Aspirasi",
            ("aspirasi", true) => "Suggestion",
            ("permintaan_informasi", false) => "Permintaan informasi",
            ("permintaan_informasi", true) => "Information request",
            _ => "—",
        }
    }

    /// A channel kind's name, as its factory gives it.
    pub fn channel_kind(&self, k: &str) -> &'static str {
        match crate::registry::kind_info(k) {
            Some(info) => info.label.get(self.is_en()),
            None => self.other_kind,
        }
    }

    /// What to do when a channel of `kind` needs new credentials, with where its
    /// provider hands them out when its factory says so.
    pub fn todo_reauthorize(&self, kind: &str) -> String {
        let en = self.is_en();
        let hint = crate::registry::kind_info(kind)
            .and_then(|info| Some((info.label.get(en), info.reauthorize?.get(en))))
            .map(|(label, how)| {
                self.reauthorize_hint
                    .replace("{kind}", label)
                    .replace("{how}", how)
            })
            .unwrap_or_default();
        self.todo_reauthorize.replace("{hint}", &hint)
    }

    pub fn health_status(&self, s: &str) -> &'static str {
        match s {
            "ok" => self.st_ok,
            "starting" => self.st_starting,
            "retrying" => self.st_retrying,
            "failed" => self.st_failed,
            "reauthorize" => self.st_reauthorize,
            "stopped" => self.st_stopped,
            "standby" => self.st_standby,
            _ => self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Status;

    #[test]
    fn every_status_action_and_role_has_words_in_both_languages() {
        for lang in [Lang::Id, Lang::En] {
            let t = lang.texts();
            for s in Status::ALL {
                assert_ne!(t.status(s.as_str()), "Unknown", "{s:?}");
                assert_ne!(t.status(s.as_str()), "Tidak diketahui", "{s:?}");
            }
            for a in ActionKind::ADMIN {
                assert!(!t.action(a).is_empty());
            }
            for r in Role::ALL {
                assert!(!t.role(r).is_empty());
            }
        }
        assert_eq!(
            Lang::Id.texts().action(ActionKind::Forward),
            "Teruskan ke unit"
        );
        assert_eq!(Lang::En.texts().status("forwarded"), "Forwarded");
        assert_eq!(Lang::parse("en"), Lang::En);
        assert_eq!(
            Lang::parse("fr"),
            Lang::Id,
            "Indonesian unless English is asked for"
        );
    }

    #[test]
    fn the_advice_to_reauthorize_names_where_the_kind_gets_new_credentials() {
        for lang in [Lang::Id, Lang::En] {
            let t = lang.texts();
            let en = lang == Lang::En;
            for f in crate::registry::kinds() {
                let advice = t.todo_reauthorize(f.kind());
                assert!(!advice.contains('{'), "{advice}");
                match f.kind_info().reauthorize {
                    Some(how) => assert!(
                        advice.contains(how.get(en))
                            && advice.contains(f.kind_info().label.get(en)),
                        "{advice}"
                    ),
                    None => assert!(!advice.contains(" ("), "{advice}"),
                }
            }
            let other = t.todo_reauthorize("a-kind-no-factory-builds");
            assert!(!other.contains('{') && !other.contains(" ("), "{other}");
        }
    }
}
