//! `pgtls read`: files in, one report per session out.

use crate::analyze::{Analyzer, AnalyzerConfig, Departed, InputStats, Retired};
use crate::capture::file::CaptureReader;
use crate::cli::{Format, ReadConfig};
use crate::flow::PortSet;
use crate::report::{self, Cells, SessionReport, Summary};
use crate::session::Verdict;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;

/// A failure of the tool itself, with the exit status it maps to.
#[derive(Debug)]
pub struct RunError {
    pub message: String,
    pub exit_code: u8,
}

impl RunError {
    /// An input that could not be opened or read: `path: cause`, exit 2.
    pub(crate) fn input(path: &Path, cause: impl std::fmt::Display) -> Self {
        RunError {
            message: format!("{}: {cause}", path.display()),
            exit_code: 2,
        }
    }
}

/// Reads one capture into the analyzer; warnings about the file go to `warn`.
pub fn read_capture<R: Read>(
    analyzer: &mut Analyzer,
    reader: R,
    name: &str,
    warn: &mut dyn FnMut(String),
) -> Result<(), crate::capture::file::CaptureError> {
    read_capture_streaming(analyzer, reader, name, warn, &mut |_| Ok(())).map_err(|e| match e {
        StreamError::Capture(e) => e,
        StreamError::Output(e) => crate::capture::file::CaptureError::Io(e),
    })
}

/// Why streaming a capture stopped.
#[derive(Debug)]
pub enum StreamError {
    Capture(crate::capture::file::CaptureError),
    Output(io::Error),
}

/// Packets between two looks at the reports ready for output.
const DRAIN_EVERY: u64 = 4096;
/// Sessions still open at the end of an input judged between two looks.
/// Their reports are in flight until written: with `-j 2`, batches of 1,024
/// put a million open sessions' peak at 279 MB instead of 256 MB.
pub(crate) const END_BATCH: usize = 256;

/// Reads one capture; about every [`DRAIN_EVERY`] packets (after the
/// buffer's whole records past it) and at the end, hands
/// the reports that are ready (in the order of [`Analyzer::take_reports`]) to `emit`.
pub fn read_capture_streaming<R: Read>(
    analyzer: &mut Analyzer,
    reader: R,
    name: &str,
    warn: &mut dyn FnMut(String),
    emit: &mut dyn FnMut(&mut Analyzer) -> io::Result<()>,
) -> Result<(), StreamError> {
    let mut cap = CaptureReader::new(reader).map_err(StreamError::Capture)?;
    analyzer.set_source(name);
    // Packets read, and when the reports are looked at next.
    let (mut n, mut drain_at) = (0u64, DRAIN_EVERY);
    while cap
        .next_packets(|p| {
            analyzer.packet(p);
            n += 1;
        })
        .map_err(StreamError::Capture)?
    {
        if n >= drain_at {
            emit(analyzer).map_err(StreamError::Output)?;
            drain_at = n + DRAIN_EVERY;
        }
    }
    for w in cap.take_warnings() {
        warn(format!("{name}: {w}"));
    }
    // Judge what is still open in batches, handing out reports in between.
    while analyzer.end_source_some(END_BATCH) {
        emit(analyzer).map_err(StreamError::Output)?;
    }
    emit(analyzer).map_err(StreamError::Output)?;
    Ok(())
}

/// Streams one input through the analyzer; "-" is standard input. A file
/// that cannot be opened is a capture error naming the cause.
pub fn read_path_streaming(
    analyzer: &mut Analyzer,
    path: &Path,
    warn: &mut dyn FnMut(String),
    emit: &mut dyn FnMut(&mut Analyzer) -> io::Result<()>,
) -> Result<(), StreamError> {
    let name = path.display().to_string();
    if name == "-" {
        return read_capture_streaming(analyzer, io::stdin().lock(), &name, warn, emit);
    }
    let f = File::open(path).map_err(|e| StreamError::Capture(e.into()))?;
    read_capture_streaming(analyzer, f, &name, warn, emit)
}

/// The analyzer of one of `workers` workers: the table's bound is shared
/// among them, so all together hold at most `--max-flows` sessions.
fn analyzer_for(cfg: &ReadConfig, workers: usize) -> Analyzer {
    let a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(cfg.ports.clone()),
        max_flows: cfg.max_flows.div_ceil(workers.max(1)),
        report_early: false,
    });
    if cfg.any_port {
        a.with_any_port()
    } else {
        a
    }
}

/// Warnings about the inputs as a whole: packets not decoded, sessions
/// evicted to stay within `max_flows`.
pub fn input_warnings(stats: &InputStats, max_flows: usize, warn: &mut dyn FnMut(String)) {
    let skipped: u64 = stats.skipped.values().sum();
    if skipped > 0 {
        let mut kinds: Vec<_> = stats.skipped.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        warn(format!("packets not decoded: {}", list.join(", ")));
    }
    if stats.evicted_flows > 0 {
        warn(format!(
            "{} sessions were closed early to stay within --max-flows {}",
            stats.evicted_flows, max_flows
        ));
    }
}

/// Analyzes every file of the configuration and returns the reports.
pub fn analyze_files(
    cfg: &ReadConfig,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<SessionReport>, RunError> {
    let mut analyzer = analyzer_for(cfg, 1);
    let mut all = Vec::new();
    for path in &cfg.files {
        let mut emit = |a: &mut Analyzer| {
            all.extend(a.take_reports());
            Ok(())
        };
        read_path_streaming(&mut analyzer, path, warn, &mut emit).map_err(|e| match e {
            StreamError::Capture(e) => RunError::input(path, e),
            StreamError::Output(e) => RunError::input(path, e),
        })?;
    }
    input_warnings(&analyzer.stats, cfg.max_flows, warn);
    Ok(all)
}

pub use crate::report::{Output, Rendered};

impl Rendered {
    /// Renders a session that left the table in the storage `buf` gives (see
    /// [`Rendered::into_buffer`]), or takes the output it was given when it
    /// reset ([`Analyzer::rendering_resets`]). The table needs only a few
    /// cells of it, taken from the session without building its whole report.
    pub fn of_departed(
        d: Departed,
        file: &str,
        format: Format,
        buf: impl FnOnce() -> Vec<u8>,
    ) -> io::Result<Rendered> {
        match d {
            Departed::Rendered(r) => Ok(r),
            Departed::Session(r) => Rendered::of_retired(&r, file, format, buf),
        }
    }

    /// A session that left as it is: the analyzer hands out the output of
    /// one rendered at its reset as [`Departed::Rendered`].
    fn of_retired(
        r: &Retired,
        file: &str,
        format: Format,
        buf: impl FnOnce() -> Vec<u8>,
    ) -> io::Result<Rendered> {
        debug_assert!(!r.session.is_rendered());
        let judgement = r.session.judge();
        let output = match format {
            Format::Table => Output::Row(report::session_cells(&r.session, &judgement, buf())),
            Format::Jsonl | Format::Json => {
                let (body, _) = report::session_json(&r.session, &judgement, file, format, buf())?;
                Output::Json(body)
            }
        };
        Ok(Rendered {
            order: r.order(),
            verdict: judgement.verdict,
            output,
        })
    }

    /// Renders a report for `format`: JSON into `body`, a buffer given back
    /// by the writer ([`ReportWriter::write_rendered`]), escaped for
    /// terminals, a newline ending a JSON Lines record; or the table's cells.
    pub fn into_buffer(
        r: &SessionReport,
        format: Format,
        mut body: Vec<u8>,
    ) -> io::Result<Rendered> {
        let output = match format {
            Format::Table => Output::Row(report::table_cells(r)),
            Format::Jsonl | Format::Json => {
                body.clear();
                report::json::write_compact(&mut body, r)?;
                if format == Format::Jsonl {
                    body.push(b'\n');
                }
                Output::Json(body)
            }
        };
        Ok(Rendered {
            order: (r.retired_at, r.first_frame),
            verdict: r.verdict,
            output,
        })
    }
}

/// Writes reports as they become ready: JSON Lines and the JSON document
/// stream; the table is drawn at the end (its columns need every row).
pub struct ReportWriter<'a> {
    out: &'a mut dyn Write,
    format: Format,
    width: Option<u16>,
    /// Table rows held to size the columns and to be drawn in order of
    /// session start, up to [`report::TABLE_MAX_ROWS`].
    rows: Vec<((usize, u64), Cells)>,
    /// More sessions than a bordered table holds: rows are written as they come.
    streaming_rows: bool,
    summary: Summary,
    /// Sessions per verdict, indexed by the verdict's discriminant (the
    /// summary's map, filled in at the end, cost a string search a session).
    verdicts: [u64; Verdict::ALL.len()],
    /// `--format json`: sessions written so far.
    written: u64,
    /// JSON Lines records or plain table lines waiting to go out together,
    /// and their bytes: they are handed to the output as one vectored write
    /// rather than copied into its buffer (a record made at its session's
    /// RST is no longer in cache when it is written).
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    /// Buffers of records written, to give back.
    spent: Vec<Vec<u8>>,
}

/// Bytes of JSON Lines records written at once: at least the output's
/// buffer (64 KiB), so that it passes them on without copying.
const PENDING_BYTES: usize = 256 << 10;
/// Records written at once at most (a vectored write takes up to 1,024).
const PENDING_RECORDS: usize = 512;

impl<'a> ReportWriter<'a> {
    pub fn new(out: &'a mut dyn Write, format: Format, width: Option<u16>) -> Self {
        ReportWriter {
            out,
            format,
            width,
            rows: Vec::new(),
            streaming_rows: false,
            summary: Summary::new(),
            verdicts: [0; Verdict::ALL.len()],
            written: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            spent: Vec::new(),
        }
    }

    /// Writes a session of input number `file`, named `name`, that left the
    /// table, rendered in the storage `buf` gives if it needs any; returns a
    /// buffer for the next, as [`ReportWriter::write_rendered`].
    pub fn write_departed(
        &mut self,
        file: usize,
        name: &str,
        d: Departed,
        buf: impl FnOnce() -> Vec<u8>,
    ) -> io::Result<Vec<u8>> {
        let r = Rendered::of_departed(d, name, self.format, buf)?;
        self.write_rendered(file, r)
    }

    /// Writes a report rendered elsewhere (by a worker of a sharded run);
    /// gives its buffer back for the next (empty while table rows are held).
    pub fn write_rendered(&mut self, file: usize, r: Rendered) -> io::Result<Vec<u8>> {
        self.summary.sessions += 1;
        self.verdicts[r.verdict as usize] += 1;
        match r.output {
            Output::Row(cells) => self.row((file, r.order.1), cells),
            Output::Json(body) if self.format == Format::Jsonl => self.queue(body),
            Output::Json(body) => {
                self.json(&body)?;
                Ok(body)
            }
        }
    }

    /// A table row, held for the bordered table (drawn in order of `start`:
    /// input number, first frame) or, past its size, written as its plain
    /// line; gives a buffer back for the next (none while rows are held).
    fn row(&mut self, start: (usize, u64), cells: Cells) -> io::Result<Vec<u8>> {
        if self.streaming_rows {
            return self.queue(cells.into_buffer());
        }
        self.rows.push((start, cells));
        if self.rows.len() > report::TABLE_MAX_ROWS {
            self.streaming_rows = true;
            writeln!(self.out, "{}", report::plain_header())?;
            for (_, cells) in std::mem::take(&mut self.rows) {
                self.enqueue(cells.into_buffer())?;
            }
        }
        Ok(Vec::new())
    }

    /// [`Self::enqueue`], giving a written buffer back for the next.
    fn queue(&mut self, bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        self.enqueue(bytes)?;
        Ok(self.spent.pop().unwrap_or_default())
    }

    /// Queues a whole record or line for the output, writing the queue when
    /// it is long enough.
    fn enqueue(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        self.pending_bytes += bytes.len();
        self.pending.push(bytes);
        if self.pending_bytes >= PENDING_BYTES || self.pending.len() >= PENDING_RECORDS {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes the records or lines waiting, in one vectored write (more if
    /// the output takes less at a time).
    fn write_pending(&mut self) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> =
            self.pending.iter().map(|b| io::IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.out.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.spent.append(&mut self.pending);
        self.pending_bytes = 0;
        Ok(())
    }

    /// One session's JSON, as a JSON Lines record or in the document.
    fn json(&mut self, body: &[u8]) -> io::Result<()> {
        if self.format == Format::Json {
            self.out.write_all(if self.written == 0 {
                b"{\n  \"sessions\": [\n    "
            } else {
                b",\n    "
            })?;
            self.written += 1;
        }
        self.out.write_all(body)
    }

    /// Sessions written (or held for the table) so far.
    pub fn sessions(&self) -> u64 {
        self.summary.sessions
    }

    pub fn finish(mut self) -> io::Result<()> {
        for v in Verdict::ALL {
            *self.summary.verdicts.entry(v.as_str()).or_default() += self.verdicts[v as usize];
        }
        match self.format {
            Format::Table => {
                // Streamed rows are out once the queue is.
                self.write_pending()?;
                if !self.streaming_rows {
                    if self.rows.is_empty() {
                        writeln!(self.out, "no PostgreSQL sessions found")?;
                    } else {
                        let mut rows = std::mem::take(&mut self.rows);
                        rows.sort_by_key(|(start, _)| *start);
                        let cells: Vec<Cells> = rows.into_iter().map(|(_, c)| c).collect();
                        writeln!(self.out, "{}", report::render_table(&cells, self.width))?;
                    }
                }
                writeln!(self.out, "{}", report::render_summary(&self.summary))?;
                self.out.flush()?;
            }
            Format::Jsonl => {
                self.write_pending()?;
                self.out.flush()?;
            }
            Format::Json => {
                if self.written == 0 {
                    self.out.write_all(b"{\n  \"sessions\": [")?;
                } else {
                    self.out.write_all(b"\n  ")?;
                }
                self.out.write_all(b"],\n  \"summary\": ")?;
                serde_json::to_writer(&mut *self.out, &self.summary)?;
                self.out.write_all(b"\n}\n")?;
                self.out.flush()?;
            }
        }
        Ok(())
    }
}

/// `pgtls read`: analyzes every file and streams the reports to `out`,
/// with `cfg.threads` workers when every input is a regular file. Each
/// worker opens every input, so a pipe (standard input, `<(zcat …)`) would
/// give each only part of the packets: those are read by one thread.
pub fn run(
    cfg: &ReadConfig,
    out: &mut dyn Write,
    width: Option<u16>,
    warn: &mut dyn FnMut(String),
) -> Result<(), RunError> {
    let rereadable = |f: &std::path::PathBuf| {
        f.as_os_str() != "-" && std::fs::metadata(f).is_ok_and(|m| m.is_file())
    };
    if cfg.threads > 1 && cfg.files.iter().all(rereadable) {
        run_sharded(cfg, out, width, warn)
    } else {
        run_single(cfg, out, width, warn)
    }
}

/// Report batches a worker of a sharded run may have waiting for the writer.
const WORKER_BACKLOG: usize = 4;
/// Reports a worker holds before it sends them, whether or not the writer
/// waits for it: what waits for the writer is bounded by sessions, not by
/// packets (a SYN flood retires a session per packet: with whole drains of
/// 4,096 packets per batch, a million SYNs under `--max-flows 10000` peaked
/// at 83 MB with two threads; 1,024 reports held took 300,000 reset TLS
/// sessions in JSON Lines from 19 to 33 MB).
const HELD_REPORTS: usize = 256;
/// Pieces a worker follows between two sends while the writer waits for
/// it: the writer wakes once for several pieces of each worker instead of
/// once a piece. A send a piece cost 25,000 context switches on the
/// million short sessions, one every 32 pieces (or [`HELD_REPORTS`])
/// 12,000.
const SEND_EVERY: u32 = 32;
/// Written reports' buffers the writer gathers before giving them back to
/// the worker that made them: memory is reused by the thread that
/// allocated it (freed by the writer, mimalloc kept those pages: `-j 2
/// --format jsonl` peaked at 40-55 MB).
const RECYCLE_BATCH: usize = 256;

/// What a worker of a sharded run tells the writer.
enum WorkerMsg {
    /// Reports of file `.0`; `.2`: none of the worker's later reports of
    /// that file left the table before this frame (0: not said).
    Reports(usize, Vec<Rendered>, u64),
    Warning(String),
    Done(Box<crate::analyze::InputStats>),
    Failed(RunError),
    Stopped,
}

/// An entry of the merge's queue of one worker.
enum Merged {
    Report(Rendered),
    /// Nothing more from this worker before this frame of the file.
    Passed(u64),
}

/// A worker of a sharded run, as the relay sees it: hands its reports to
/// the writer.
struct ShardOutput<'a> {
    file: usize,
    name: &'a str,
    format: Format,
    /// This worker's number, and the channel every worker sends on.
    worker: usize,
    tx: &'a std::sync::mpsc::SyncSender<(usize, WorkerMsg)>,
    recycled: &'a std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    stop: &'a std::sync::atomic::AtomicBool,
    written: &'a std::sync::atomic::AtomicU64,
    progress: &'a mut Progress,
    workers: u64,
    /// The last frame told the writer.
    told: u64,
    /// Reports rendered and not sent yet, and the pieces followed since
    /// the last send.
    pending: Vec<Rendered>,
    followed: u32,
    /// Set by the merge while it waits for this worker with nothing of it
    /// queued: a worker about to wait for the others tells it how far it
    /// has gone only then (at every wait, that woke the writer thousands
    /// of times a second on bulk traffic).
    needed: &'a std::sync::atomic::AtomicBool,
}

impl ShardOutput<'_> {
    /// Sends the pending reports, and `passed` (0: nothing said).
    fn send(&mut self, passed: u64) -> io::Result<()> {
        self.told = self.told.max(passed);
        self.followed = 0;
        // Room for as many as this batch: grown from nothing, the vector
        // of a batch of 256 was copied eight times on the way.
        let room = self.pending.len();
        let reports = std::mem::replace(&mut self.pending, Vec::with_capacity(room));
        self.tx
            .send((self.worker, WorkerMsg::Reports(self.file, reports, passed)))
            .map_err(|_| io::Error::other("writer gone"))
    }

    fn writer_waits(&self) -> bool {
        self.needed.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl crate::relay::Follower for ShardOutput<'_> {
    fn emit(&mut self, a: &mut Analyzer, passed: u64) -> io::Result<()> {
        if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(io::Error::other("stopped"));
        }
        for d in a.take_retired().into_ordered() {
            if self.pending.is_empty() {
                while let Ok(back) = self.recycled.try_recv() {
                    back.into_iter().for_each(|buf| a.recycle(buf));
                }
            }
            let r = Rendered::of_departed(d, self.name, self.format, || a.spare_buffer())?;
            self.pending.push(r);
            if self.pending.len() == HELD_REPORTS {
                self.send(0)?;
            }
        }
        if passed == u64::MAX {
            // The end of the file: everything goes.
            if !self.pending.is_empty() {
                self.send(0)?;
            }
            return Ok(());
        }
        self.followed += 1;
        if self.followed >= SEND_EVERY && self.writer_waits() {
            self.send(passed)?;
        }
        Ok(())
    }

    fn waiting(&mut self, passed: u64) -> io::Result<()> {
        if passed > self.told && self.writer_waits() {
            self.send(passed)?;
        }
        Ok(())
    }

    fn warn(&mut self, message: String) {
        let _ = self.tx.send((
            self.worker,
            WorkerMsg::Warning(format!("{}: {message}", self.name)),
        ));
    }

    fn progress(&mut self, a: &Analyzer, framed: u64) {
        // This shard's open sessions stand for every shard's.
        let open = self.workers * a.open_sessions() as u64;
        let written = self.written.load(std::sync::atomic::Ordering::Relaxed);
        self.progress.update(framed, written + open);
    }
}

/// Several workers read the same files in pieces ([`crate::relay`]), each
/// following the flows of its shard; their reports are merged by (file,
/// frame the session left at, first frame), which is the order a
/// single-threaded run gives.
fn run_sharded(
    cfg: &ReadConfig,
    out: &mut dyn Write,
    width: Option<u16>,
    warn: &mut dyn FnMut(String),
) -> Result<(), RunError> {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::sync_channel;

    let workers = cfg.threads;
    let stop = AtomicBool::new(false);
    let mut writer = ReportWriter::new(out, cfg.format, width);
    // One bounded channel from every worker: a worker that runs ahead of
    // the writer blocks instead of piling up reports. The merge takes
    // whatever comes next, from any worker: waiting on the one worker it
    // needs could wait for ever on a worker waiting for a piece from
    // another, blocked in turn on a full channel of its own. No worker
    // gets more than a few pieces ahead of another ([`crate::relay`]),
    // which bounds what the merge holds.
    let (tx, rx) = sync_channel::<(usize, WorkerMsg)>(WORKER_BACKLOG * workers);
    let (recycle_txs, recycle_rxs): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| sync_channel::<Vec<Vec<u8>>>(WORKER_BACKLOG))
        .unzip();
    let mut failure: Option<RunError> = None;
    let mut output_failure: Option<io::Error> = None;
    let mut stats = crate::analyze::InputStats::default();
    // Sessions written so far, for the first worker's progress display.
    let written = std::sync::atomic::AtomicU64::new(0);
    let relays = crate::relay::workers(workers, cfg.piece_bytes);
    let needed: Vec<AtomicBool> = (0..workers).map(|_| AtomicBool::new(false)).collect();
    std::thread::scope(|scope| {
        for (w, (recycled, mut relay)) in recycle_rxs.into_iter().zip(relays).enumerate() {
            let tx = tx.clone();
            let stop = &stop;
            let needed = &needed[w];
            let written = &written;
            scope.spawn(move || {
                let mut a = analyzer_for(cfg, workers)
                    .rendering_resets(cfg.format)
                    .with_shard(w as u32, workers as u32);
                let mut progress = Progress::new(w == 0 && io::stderr().is_terminal());
                for (fi, path) in cfg.files.iter().enumerate() {
                    progress.start_file(path, 0);
                    // The name the analyzer gives its reports.
                    let name = path.display().to_string();
                    a.set_source(&name);
                    let mut output = ShardOutput {
                        file: fi,
                        name: &name,
                        format: cfg.format,
                        worker: w,
                        tx: &tx,
                        recycled: &recycled,
                        stop,
                        written,
                        progress: &mut progress,
                        workers: workers as u64,
                        told: 0,
                        pending: Vec::new(),
                        followed: 0,
                        needed,
                    };
                    let result = relay.read_file(&mut a, path, &mut output);
                    progress.clear();
                    match result {
                        Ok(()) => {}
                        Err(crate::relay::Stop::Capture(e)) => {
                            let _ = tx.send((w, WorkerMsg::Failed(RunError::input(path, e))));
                            return;
                        }
                        Err(crate::relay::Stop::Output(_)) => {
                            let _ = tx.send((w, WorkerMsg::Stopped));
                            return;
                        }
                    }
                }
                let _ = tx.send((w, WorkerMsg::Done(Box::new(a.stats.clone()))));
            });
        }

        drop(tx);
        // Merge: a report may go out once every worker still running has
        // sent something that sorts after it.
        let mut queues: Vec<VecDeque<(usize, Merged)>> =
            (0..workers).map(|_| VecDeque::new()).collect();
        let mut done = vec![false; workers];
        let mut spent: Vec<Vec<Vec<u8>>> = (0..workers).map(|_| Vec::new()).collect();
        let key = |q: &VecDeque<(usize, Merged)>| {
            q.front().map(|(f, m)| match m {
                Merged::Report(r) => (*f, r.order),
                Merged::Passed(frame) => (*f, (*frame, 0)),
            })
        };
        loop {
            // A running worker with nothing queued holds up the merge: wait
            // for what comes next.
            if (0..workers).any(|i| !done[i] && queues[i].is_empty()) {
                for (i, q) in queues.iter().enumerate() {
                    needed[i].store(q.is_empty(), Ordering::Release);
                }
                let (w, msg) = match rx.recv() {
                    Ok(m) => m,
                    // Every worker has ended (each says how first, unless
                    // it panicked).
                    Err(_) => {
                        done.iter_mut().for_each(|d| *d = true);
                        continue;
                    }
                };
                match msg {
                    WorkerMsg::Reports(fi, rs, passed) => {
                        let q = &mut queues[w];
                        q.extend(rs.into_iter().map(|r| (fi, Merged::Report(r))));
                        if passed > 0 {
                            if let Some((_, Merged::Passed(_))) = q.back() {
                                q.pop_back();
                            }
                            q.push_back((fi, Merged::Passed(passed)));
                        }
                    }
                    WorkerMsg::Warning(m) => warn(m),
                    WorkerMsg::Done(s) => {
                        done[w] = true;
                        stats.add_shard(&s);
                    }
                    WorkerMsg::Failed(e) => {
                        done[w] = true;
                        if failure.is_none() {
                            failure = Some(e);
                        }
                        stop.store(true, Ordering::Relaxed);
                    }
                    // Stopped: the output failed, or the run is stopping.
                    WorkerMsg::Stopped => done[w] = true,
                }
                if failure.is_some() || output_failure.is_some() {
                    queues[w].clear();
                }
                continue;
            }
            let Some(next) = (0..workers)
                .filter(|&i| !queues[i].is_empty())
                .min_by_key(|&i| key(&queues[i]))
            else {
                break;
            };
            let (fi, m) = queues[next].pop_front().expect("non-empty");
            let Merged::Report(r) = m else {
                continue;
            };
            if failure.is_some() || output_failure.is_some() {
                continue;
            }
            match writer.write_rendered(fi, r) {
                Ok(buf) => {
                    spent[next].push(buf);
                    if spent[next].len() >= RECYCLE_BATCH {
                        // A worker that has not taken the last ones back
                        // gets none: these are freed here.
                        let _ = recycle_txs[next].try_send(std::mem::take(&mut spent[next]));
                    }
                }
                Err(e) => {
                    output_failure = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            }
            written.store(writer.sessions(), Ordering::Relaxed);
        }
        drop(rx);
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if let Some(e) = output_failure {
        return output_error(e);
    }
    input_warnings(&stats, cfg.max_flows, warn);
    writer.finish().or_else(output_error)
}

/// A reader that went away (`| head`) ends the run quietly.
fn output_error(e: io::Error) -> Result<(), RunError> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(RunError {
            message: format!("writing output: {e}"),
            exit_code: 2,
        })
    }
}

/// One thread reads the files in order.
fn run_single(
    cfg: &ReadConfig,
    out: &mut dyn Write,
    width: Option<u16>,
    warn: &mut dyn FnMut(String),
) -> Result<(), RunError> {
    let mut analyzer = analyzer_for(cfg, 1).rendering_resets(cfg.format);
    let mut writer = ReportWriter::new(out, cfg.format, width);
    let mut progress = Progress::new(io::stderr().is_terminal());
    for (fi, path) in cfg.files.iter().enumerate() {
        progress.start_file(path, file_bytes(&analyzer));
        // The name the analyzer gives its reports.
        let name = path.display().to_string();
        let mut emit = |a: &mut Analyzer| {
            for d in a.take_retired().into_ordered() {
                let back = writer.write_departed(fi, &name, d, || a.spare_buffer())?;
                a.recycle(back);
            }
            progress.update(file_bytes(a), writer.sessions() + a.open_sessions() as u64);
            Ok(())
        };
        let result = read_path_streaming(&mut analyzer, path, warn, &mut emit);
        progress.clear();
        match result {
            Ok(()) => {}
            Err(StreamError::Capture(e)) => return Err(RunError::input(path, e)),
            Err(StreamError::Output(e)) => return output_error(e),
        }
    }
    input_warnings(&analyzer.stats, cfg.max_flows, warn);
    writer.finish().or_else(output_error)
}

/// A one-line progress display on stderr while a large file is read, only
/// when stderr is a terminal: bytes read, rate, sessions so far.
struct Progress {
    enabled: bool,
    name: String,
    size: Option<u64>,
    start: std::time::Instant,
    last: std::time::Instant,
    base_bytes: u64,
    shown: bool,
}

impl Progress {
    /// Time between two redraws.
    const EVERY: std::time::Duration = std::time::Duration::from_millis(250);

    fn new(enabled: bool) -> Self {
        let now = std::time::Instant::now();
        Progress {
            enabled,
            name: String::new(),
            size: None,
            start: now,
            last: now,
            base_bytes: 0,
            shown: false,
        }
    }

    /// A new file; `base_bytes`: the count of bytes read when it starts.
    fn start_file(&mut self, path: &Path, base_bytes: u64) {
        self.name = path.display().to_string();
        self.size = std::fs::metadata(path).map(|m| m.len()).ok();
        self.start = std::time::Instant::now();
        self.last = self.start;
        self.base_bytes = base_bytes;
    }

    /// `bytes` read so far (counted as in `start_file`), `sessions` seen.
    fn update(&mut self, bytes: u64, sessions: u64) {
        if !self.enabled || self.last.elapsed() < Self::EVERY {
            return;
        }
        self.last = std::time::Instant::now();
        let done = bytes.saturating_sub(self.base_bytes);
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let mb = |b: u64| b as f64 / 1e6;
        let of = self
            .size
            .map(|s| {
                format!(
                    " of {:.0} MB ({:.0}%)",
                    mb(s),
                    100.0 * done as f64 / s.max(1) as f64
                )
            })
            .unwrap_or_default();
        eprint!(
            "\r\x1b[2K{}: {:.0} MB{of}, {:.0} MB/s, {} sessions",
            self.name,
            mb(done),
            mb(done) / secs,
            sessions
        );
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
            self.shown = false;
        }
    }
}

/// Approximate bytes of the capture file consumed: packet bytes plus the
/// 16-byte record headers.
fn file_bytes(a: &Analyzer) -> u64 {
    a.stats.bytes + 16 * a.stats.packets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that takes at most `most` bytes a call, refuses every
    /// third call as interrupted, and counts vectored calls.
    struct Stingy {
        out: Vec<u8>,
        most: usize,
        calls: usize,
        vectored: usize,
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.most);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
            self.vectored += 1;
            assert!(bufs.len() <= 1024, "{} slices", bufs.len());
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            self.write(first)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// JSON Lines records go out whole and in order through vectored
    /// writes, however little the output takes at a time; the buffers
    /// given back stay few.
    #[test]
    fn json_lines_records_go_out_whole_in_order() {
        let mut rng = crate::testutil::XorShift(5);
        let records: Vec<Vec<u8>> = (0..3_000)
            .map(|i| {
                let mut r = format!("{{\"n\":{i},\"pad\":\"").into_bytes();
                r.resize(r.len() + rng.below(3_000), b'x');
                r.extend_from_slice(b"\"}\n");
                r
            })
            .collect();
        for most in [1, 700, usize::MAX] {
            let mut out = Stingy {
                out: Vec::new(),
                most,
                calls: 0,
                vectored: 0,
            };
            let mut w = ReportWriter::new(&mut out, Format::Jsonl, None);
            let mut given_back = 0;
            for (i, r) in records.iter().enumerate() {
                let rendered = Rendered {
                    order: (i as u64, i as u64),
                    verdict: Verdict::Encrypted,
                    output: Output::Json(r.clone()),
                };
                given_back += usize::from(w.write_rendered(0, rendered).unwrap().capacity() > 0);
                assert!(w.spent.len() <= PENDING_RECORDS, "{}", w.spent.len());
            }
            w.finish().unwrap();
            assert_eq!(out.out, records.concat(), "at most {most} bytes a write");
            assert!(out.vectored > 0);
            assert!(
                given_back > records.len() / 2,
                "{given_back} buffers given back"
            );
        }
    }
}
