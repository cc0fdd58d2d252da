%% The event log of one conformance scenario: the single place where worker
%% starts, failed starts, stops, supervisor give-ups, request replies and the
%% end of the tree are put in order, as lines of the vocabulary the Rust side
%% compares (`start PATH`, `start_failed PATH`, `stop PATH REASON`,
%% `sup_up PATH`, `sup_start_failed PATH`, `sup_end PATH REASON`,
%% `give_up PATH`, `reply OP PATH RESULT`, `tree_down`).
%%
%% Ordering. Every line is put in order by the process whose action it
%% reports, which then waits for the log before it goes on (or is a
%% supervisor, whose every action is sequential):
%% - a start by a synchronous call from the worker's init, which runs while
%%   its supervisor waits in start_link;
%% - a failed start, and a child supervisor's start or failed start, by a
%%   synchronous call from the start function, which runs in the parent
%%   supervisor process (in the driver, for the root);
%% - a stop from the supervisor's side: every supervisor traces what it
%%   receives to this process (vigil_conformance_sup:init/1), and a worker's
%%   run (or a child supervisor) has ended when its supervisor receives its
%%   'EXIT' or 'DOWN' (the driver reports the root's end) (a
%%   brutal kill leaves the worker itself no chance to say anything; and the
%%   signals a dying process sends itself can be late: the runtime may pause
%%   between its links and its monitors, long enough for its supervisor to
%%   have stopped two siblings in the meantime);
%% - a give-up from a logger handler that runs inside the supervisor when it
%%   reports reached_max_restart_intensity, before it stops any child;
%% - replies and the end of the tree by the driver, after the call returned.
%% Messages from one sender arrive in the order sent, and each sender above
%% only sends after everything that caused its event was sent.
%%
%% It also knows each worker's live run (for the driver's scripted exits) and
%% how many of a worker's next starts the script made fail.
-module(vigil_conformance_log).
-behaviour(gen_server).

-export([start_link/0, stop/1, attempt/2, started/4, sup_up/4, fail_starts/3, note/2, root_ended/2,
         pid_of/2, events/1, format_path/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
%% logger handler callback (runs in the process that logs)
-export([log/2]).

-record(st, {events = [] :: [string()],
             %% live runs and supervisors (with their supervisor), and back
             paths = #{} :: #{pid() => {worker | supervisor, [atom()], pid()}},
             pids = #{} :: #{[atom()] => pid()},
             fails = #{} :: #{[atom()] => non_neg_integer()}}).

start_link() -> gen_server:start_link(?MODULE, [], []).

stop(Log) -> gen_server:stop(Log).

%% Called by a worker's start function, in the supervisor process: whether
%% this start fails (a scripted failure is consumed and logged).
attempt(Log, Path) -> gen_server:call(Log, {attempt, Path}, infinity).

%% Called by a worker's init: the run is up, under supervisor Parent.
started(Log, Path, Pid, Parent) -> gen_server:call(Log, {started, Path, Pid, Parent}, infinity).

%% Called by a supervisor's start function, in its parent Parent: it has
%% started its children.
sup_up(Log, Path, Pid, Parent) -> gen_server:call(Log, {sup_up, Path, Pid, Parent}, infinity).

fail_starts(Log, Path, N) -> gen_server:call(Log, {fail_starts, Path, N}, infinity).

%% The root supervisor ended with Reason.
root_ended(Log, Reason) -> gen_server:call(Log, {root_ended, Reason}, infinity).

%% Log a line made by the driver (a reply, the end of the tree).
note(Log, Line) -> gen_server:call(Log, {note, Line}, infinity).

%% The live run of the worker at Path, or none.
pid_of(Log, Path) -> gen_server:call(Log, {pid_of, Path}, infinity).

%% Every line so far, in order.
events(Log) -> gen_server:call(Log, events, infinity).

init([]) -> {ok, #st{}}.

handle_call(Msg, _From, S) ->
    call(Msg, S).

call({attempt, Path}, S = #st{fails = F}) ->
    case maps:get(Path, F, 0) of
        0 -> {reply, ok, S};
        N -> {reply, fail, add(["start_failed ", format_path(Path)],
                                S#st{fails = F#{Path => N - 1}})}
    end;
call({started, Path, Pid, Parent}, S = #st{paths = Paths, pids = P}) ->
    {reply, ok, add(["start ", format_path(Path)],
                    S#st{paths = Paths#{Pid => {worker, Path, Parent}}, pids = P#{Path => Pid}})};
call({sup_up, Path, Pid, Parent}, S = #st{paths = Paths}) ->
    {reply, ok, add(["sup_up ", format_path(Path)],
                    S#st{paths = Paths#{Pid => {supervisor, Path, Parent}}})};
call({fail_starts, Path, N}, S = #st{fails = F}) ->
    {reply, ok, S#st{fails = F#{Path => maps:get(Path, F, 0) + N}}};
call({note, Line}, S) ->
    {reply, ok, add(Line, S)};
call({root_ended, Reason}, S) ->
    {reply, ok, sup_end([], Reason, S)};
call({pid_of, Path}, S = #st{pids = P}) ->
    {reply, maps:get(Path, P, none), S};
call(events, S) ->
    {reply, lists:reverse(S#st.events), S}.

handle_cast(_Msg, S) -> {noreply, S}.

%% What a supervisor received: the end of a live run or child supervisor is
%% the first 'EXIT' or 'DOWN' of it its own supervisor receives (a shutdown
%% brings both; a child supervisor also receives its parent's 'EXIT').
handle_info({trace, Sup, 'receive', {'EXIT', Pid, Reason}}, S) ->
    {noreply, ended(Sup, Pid, Reason, S)};
handle_info({trace, Sup, 'receive', {'DOWN', _, process, Pid, Reason}}, S) ->
    {noreply, ended(Sup, Pid, Reason, S)};
handle_info(_Msg, S) ->
    {noreply, S}.

ended(Sup, Pid, Reason, S = #st{paths = Paths, pids = P}) ->
    case maps:find(Pid, Paths) of
        {ok, {worker, Path, Sup}} ->
            add(["stop ", format_path(Path), " ", reason(Reason)],
                S#st{paths = maps:remove(Pid, Paths), pids = maps:remove(Path, P)});
        {ok, {supervisor, Path, Sup}} ->
            sup_end(Path, Reason, S#st{paths = maps:remove(Pid, Paths)});
        _ ->
            S
    end.

%% The end of a supervisor (the driver reports the root's).
sup_end(Path, Reason, S) ->
    add(["sup_end ", format_path(Path), " ", reason(Reason)], S).

add(Line, S = #st{events = E}) -> S#st{events = [lists:flatten(Line) | E]}.

%% Exit reasons in vigil's spelling.
reason(normal) -> "normal";
reason(shutdown) -> "shutdown";
reason(killed) -> "killed";
reason(error) -> "error";
reason(panic) -> "panic";
reason({shutdown, D}) -> "shutdown(" ++ atom_to_list(D) ++ ")";
reason({error, D}) -> "error(" ++ atom_to_list(D) ++ ")";
reason({panic, D}) -> "panic(" ++ atom_to_list(D) ++ ")";
reason(Other) -> lists:flatten(io_lib:format("unexpected(~0p)", [Other])).

%% A path as vigil writes it; the root is `<root>`.
format_path([]) -> "<root>";
format_path(Path) -> lists:flatten(lists:join("/", [atom_to_list(N) || N <- Path])).

%% logger handler: a supervisor of the scenario reached its restart intensity.
%% Runs inside that supervisor, which registered its log and path in its
%% process dictionary (vigil_conformance_sup:init/1).
log(#{msg := {report, #{label := {supervisor, shutdown}, report := Report}}}, _Config) ->
    case {lists:keyfind(reason, 1, Report), get(vigil_conformance_sup)} of
        {{reason, reached_max_restart_intensity}, {Log, Path}} ->
            note(Log, ["give_up ", format_path(Path)]);
        _ ->
            ok
    end;
log(_Event, _Config) ->
    ok.
