%% The OTP side of vigil's conformance suite: runs a batch of scenarios
%% against the real `supervisor` module and prints, for each, the sequence
%% of events (see vigil_conformance_log) the Rust side compares with
%% vigil-sim's.
%%
%%   erl -noshell -pa EBIN -run vigil_conformance main BATCH_FILE
%%
%% The batch file holds one term per scenario (file:consult/1):
%%   {scenario, Id, RootFlags, Children, Steps}.
%% with the tree terms of vigil_conformance_sup and the steps
%%   {exit, Path, Reason}        the worker's live run ends with Reason
%%                               (`kill`: killed); nothing if none is live
%%   {fail_starts, Path, N}      the worker's next N starts return {error, _}
%%   {hang_on_stop, Path}        its live run ignores the supervisor's shutdown
%%   {terminate_child, Path} | {restart_child, Path} | {delete_child, Path}
%%   {start_child, ParentPath, Name}   a default worker spec
%%   shutdown                    the root is shut down
%% Paths are lists of atoms from the root.
%%
%% Output: per scenario, in batch order,
%%   === Id
%%   <one event per line>
%%   === end
%% or `!!! Id <error>` when the scenario could not be run.
%%
%% After every step the driver waits until the tree is quiet: every listed
%% child pid is alive (a dead one means its 'EXIT' is still in its
%% supervisor's mailbox), no child is `restarting` (a retry is queued), and
%% which_children answered (a supervisor that is ending does not). So each
%% step starts from a settled tree, as each script action does in vigil-sim.
-module(vigil_conformance).

-export([main/1]).

%% Scenarios run at once (mostly waiting: hung workers cost their timeout).
-define(PARALLEL, 32).
%% A scenario that takes longer than this is reported as an error.
-define(SCENARIO_TIMEOUT_MS, 120000).

main([BatchFile]) ->
    try
        ok = logger:remove_handler(default),
        ok = logger:add_handler(vigil_conformance, vigil_conformance_log, #{level => error}),
        {ok, Scenarios} = file:consult(BatchFile),
        Results = run_all(Scenarios),
        [io:put_chars(R) || R <- Results],
        halt(0)
    catch
        Class:Error:Stack ->
            io:format(standard_error, "vigil_conformance: ~p:~p~n~p~n", [Class, Error, Stack]),
            halt(2)
    end.

%% Run every scenario, at most ?PARALLEL at a time; results in batch order.
run_all(Scenarios) ->
    Indexed = lists:zip(lists:seq(1, length(Scenarios)), Scenarios),
    Done = pool(Indexed, 0, #{}),
    [maps:get(I, Done) || {I, _} <- Indexed].

pool([], 0, Done) ->
    Done;
pool([{I, Scn} | Rest], Running, Done) when Running < ?PARALLEL ->
    Self = self(),
    spawn(fun() -> Self ! {done, I, run_guarded(Scn)} end),
    pool(Rest, Running + 1, Done);
pool(Todo, Running, Done) ->
    receive
        {done, I, Text} -> pool(Todo, Running - 1, Done#{I => Text})
    end.

run_guarded(Scn = {scenario, Id, _, _, _}) ->
    Self = self(),
    {Pid, Mon} = spawn_monitor(fun() -> Self ! {result, self(), run(Scn)} end),
    receive
        {result, Pid, Events} ->
            demonitor(Mon, [flush]),
            ["=== ", integer_to_list(Id), "\n", [[E, "\n"] || E <- Events], "=== end\n"];
        {'DOWN', Mon, process, Pid, Reason} ->
            io_lib:format("!!! ~b crashed: ~0p~n", [Id, Reason])
    after ?SCENARIO_TIMEOUT_MS ->
        exit(Pid, kill),
        io_lib:format("!!! ~b timed out~n", [Id])
    end.

%% One scenario, in its own process (the root supervisor's parent).
run({scenario, _Id, Flags, Children, Steps}) ->
    process_flag(trap_exit, true),
    {ok, Log} = vigil_conformance_log:start_link(),
    {ok, Root} = vigil_conformance_sup:start_link(Log, [], Flags, Children),
    Ctx = #{log => Log, root => Root, root_mon => monitor(process, Root),
            children => Children},
    up = settle(Ctx),
    Final = steps(Steps, Ctx),
    Events = vigil_conformance_log:events(Log),
    Final =:= up andalso stop_root(Ctx),
    vigil_conformance_log:stop(Log),
    Events.

steps([], _Ctx) ->
    up;
steps([shutdown | _], Ctx) ->
    tree_down(stop_root(Ctx), Ctx);
steps([Step | Rest], Ctx) ->
    step(Step, Ctx),
    case settle(Ctx) of
        up -> steps(Rest, Ctx);
        {down, Reason} -> tree_down(Reason, Ctx)
    end.

tree_down(Reason, #{log := Log}) ->
    vigil_conformance_log:root_ended(Log, Reason),
    vigil_conformance_log:note(Log, "tree_down"),
    down.

step({exit, Path, Reason}, #{log := Log}) ->
    case vigil_conformance_log:pid_of(Log, Path) of
        none ->
            ok;
        Pid ->
            Mon = monitor(process, Pid),
            exit(Pid, case Reason of kill -> kill; _ -> Reason end),
            receive {'DOWN', Mon, process, Pid, _} -> ok end
    end;
step({fail_starts, Path, N}, #{log := Log}) ->
    vigil_conformance_log:fail_starts(Log, Path, N);
step({hang_on_stop, Path}, #{log := Log}) ->
    case vigil_conformance_log:pid_of(Log, Path) of
        none -> ok;
        Pid -> vigil_conformance_worker:hang(Pid)
    end;
step({start_child, Parent, Name}, Ctx = #{log := Log}) ->
    Result = case resolve(Ctx, Parent, true) of
                 {ok, Sup} ->
                     start_child_reply(
                       supervisor:start_child(Sup, vigil_conformance_sup:worker_spec(Log, Parent, Name)));
                 Error ->
                     Error
             end,
    reply(Log, start_child, Parent ++ [Name], Result);
step({Op, Path}, Ctx = #{log := Log}) ->
    {Parent, [Name]} = lists:split(length(Path) - 1, Path),
    Result = case resolve(Ctx, Parent, false) of
                 {ok, Sup} -> child_reply(supervisor:Op(Sup, Name));
                 Error -> Error
             end,
    reply(Log, Op, Path, Result).

reply(Log, Op, Path, Result) ->
    vigil_conformance_log:note(
      Log, ["reply ", atom_to_list(Op), " ", vigil_conformance_log:format_path(Path), " ",
            atom_to_list(Result)]).

%% OTP's answers in vigil's reply names.
start_child_reply({ok, _}) -> started;
start_child_reply({error, {already_started, _}}) -> already_started;
start_child_reply({error, already_present}) -> already_present;
start_child_reply({error, _}) -> start_failed.

child_reply(ok) -> ok;
child_reply({ok, _}) -> started;
child_reply({error, not_found}) -> not_found;
child_reply({error, running}) -> running;
child_reply({error, restarting}) -> restarting;
child_reply({error, _}) -> start_failed.

%% The supervisor process at Path. OTP addresses a supervisor by pid, vigil
%% by path, so these answers are vigil's for what OTP cannot even be asked: a
%% path through a missing child, a worker or a supervisor that is not running
%% is not_found (a supervisor that is not running has no children in either);
%% as the target of start_child, a stopped supervisor is not_running and a
%% worker not_a_supervisor.
resolve(#{root := Root}, Path, IsTarget) ->
    walk(Root, Path, IsTarget).

walk(Sup, [], _IsTarget) ->
    {ok, Sup};
walk(Sup, [Name | Rest], IsTarget) ->
    case lists:keyfind(Name, 1, supervisor:which_children(Sup)) of
        {Name, Pid, supervisor, _} when is_pid(Pid) -> walk(Pid, Rest, IsTarget);
        {Name, _, supervisor, _} when Rest =:= [], IsTarget -> not_running;
        {Name, _, worker, _} when Rest =:= [], IsTarget -> not_a_supervisor;
        _ -> not_found
    end.

%% Shut the tree down (as its parent); the root's exit reason.
stop_root(#{root := Root, root_mon := Mon}) ->
    exit(Root, shutdown),
    receive {'DOWN', Mon, process, Root, Reason} -> Reason end.

%% Wait until the tree is quiet (see the module doc); `{down, Reason}` once
%% the root has ended.
settle(Ctx = #{root := Root, root_mon := Mon}) ->
    receive
        {'DOWN', Mon, process, Root, Reason} -> {down, Reason}
    after 0 ->
        case catch quiet(Root) of
            true ->
                up;
            _ ->
                timer:sleep(1),
                settle(Ctx)
        end
    end.

quiet(Sup) ->
    lists:all(fun({_, restarting, _, _}) -> false;
                 ({_, undefined, _, _}) -> true;
                 ({_, Pid, worker, _}) -> is_process_alive(Pid);
                 ({_, Pid, supervisor, _}) -> is_process_alive(Pid) andalso quiet(Pid)
              end,
              supervisor:which_children(Sup)).
