%% The event log of one conformance scenario: the single place where worker
%% starts, failed starts, stops, supervisor give-ups, request replies and the
%% end of the tree are put in order, as lines of the vocabulary the Rust side
%% compares (`start PATH`, `start_failed PATH`, `stop PATH REASON`,
%% `give_up PATH`, `reply OP PATH RESULT`, `tree_down`).
%%
%% Ordering. Starts are logged by a synchronous call from the worker's init,
%% which runs inside the supervisor's start_link, so a start is logged before
%% the supervisor can do anything else. Stops are logged from this process's
%% own monitor of every worker (a brutal kill leaves the worker no chance to
%% log anything itself). Before it logs anything, the log first takes every
%% 'DOWN' that is already in its mailbox and then waits for the 'DOWN' of every
%% monitored worker that is no longer alive: a supervisor only moves on after a
%% child is dead, so every stop that happened before an event is logged before
%% it. Give-ups come from a logger handler that runs inside the supervisor
%% process when it reports reached_max_restart_intensity, before it stops any
%% child.
%%
%% It also holds what the script sets up ahead of time: how many of a worker's
%% next starts fail, and which workers ignore the supervisor's stop.
-module(vigil_conformance_log).
-behaviour(gen_server).

-export([start_link/0, stop/1, attempt/2, started/3, fail_starts/3, note/2,
         pid_of/2, events/1, format_path/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
%% logger handler callback (runs in the process that logs)
-export([log/2]).

-record(st, {events = [] :: [string()],
             mons = #{} :: #{reference() => {[atom()], pid()}},
             pids = #{} :: #{[atom()] => pid()},
             fails = #{} :: #{[atom()] => non_neg_integer()}}).

start_link() -> gen_server:start_link(?MODULE, [], []).

stop(Log) -> gen_server:stop(Log).

%% Called by a worker's start function, in the supervisor process: whether
%% this start fails (a scripted failure is consumed and logged).
attempt(Log, Path) -> gen_server:call(Log, {attempt, Path}, infinity).

%% Called by a worker's init: the run is up.
started(Log, Path, Pid) -> gen_server:call(Log, {started, Path, Pid}, infinity).

fail_starts(Log, Path, N) -> gen_server:call(Log, {fail_starts, Path, N}, infinity).

%% Log a line made by the driver (a reply, the end of the tree).
note(Log, Line) -> gen_server:call(Log, {note, Line}, infinity).

%% The live run of the worker at Path, or none.
pid_of(Log, Path) -> gen_server:call(Log, {pid_of, Path}, infinity).

%% Every line so far, in order.
events(Log) -> gen_server:call(Log, events, infinity).

init([]) -> {ok, #st{}}.

handle_call(Msg, _From, S0) ->
    S = settle_deaths(S0),
    call(Msg, S).

call({attempt, Path}, S = #st{fails = F}) ->
    case maps:get(Path, F, 0) of
        0 -> {reply, ok, S};
        N -> {reply, fail, add(["start_failed ", format_path(Path)],
                                S#st{fails = F#{Path => N - 1}})}
    end;
call({started, Path, Pid}, S = #st{mons = M, pids = P}) ->
    Ref = monitor(process, Pid),
    {reply, ok, add(["start ", format_path(Path)],
                    S#st{mons = M#{Ref => {Path, Pid}}, pids = P#{Path => Pid}})};
call({fail_starts, Path, N}, S = #st{fails = F}) ->
    {reply, ok, S#st{fails = F#{Path => maps:get(Path, F, 0) + N}}};
call({note, Line}, S) ->
    {reply, ok, add(Line, S)};
call({pid_of, Path}, S = #st{pids = P}) ->
    {reply, maps:get(Path, P, none), S};
call(events, S) ->
    {reply, lists:reverse(S#st.events), S}.

handle_cast(_Msg, S) -> {noreply, S}.

handle_info({'DOWN', Ref, process, _Pid, Reason}, S) ->
    {noreply, down(Ref, Reason, S)};
handle_info(_Msg, S) ->
    {noreply, S}.

%% Wait for the 'DOWN' of every monitored worker that is already dead, in the
%% order they arrive.
settle_deaths(S = #st{mons = M}) ->
    Dead = [R || {R, {_, Pid}} <- maps:to_list(M), not is_process_alive(Pid)],
    case Dead of
        [] ->
            S;
        _ ->
            receive
                {'DOWN', Ref, process, _, Reason} when is_map_key(Ref, M) ->
                    settle_deaths(down(Ref, Reason, S))
            end
    end.

down(Ref, Reason, S = #st{mons = M, pids = P}) ->
    case maps:take(Ref, M) of
        {{Path, Pid}, M1} ->
            P1 = case maps:get(Path, P, none) of
                     Pid -> maps:remove(Path, P);
                     _ -> P
                 end,
            add(["stop ", format_path(Path), " ", reason(Reason)], S#st{mons = M1, pids = P1});
        error ->
            S
    end.

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
