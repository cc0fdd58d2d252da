%% A worker of the conformance scenarios: a gen_server that does nothing but
%% live. Its start function fails with {error, _} when the script asked for
%% it (vigil's failed start); its init logs the start; it ends with whatever
%% reason the driver's exit signal carries (a scripted exit); asked to hang,
%% it ignores its supervisor's shutdown until the supervisor kills it.
-module(vigil_conformance_worker).
-behaviour(gen_server).

-export([start_link/2, hang/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(st, {hang = false :: boolean(), own_exit = false :: boolean()}).

%% Runs in the supervisor process.
start_link(Log, Path) ->
    case vigil_conformance_log:attempt(Log, Path) of
        fail -> {error, scripted_start_failure};
        ok -> gen_server:start_link(?MODULE, {Log, Path, self()}, [])
    end.

%% From now on this run ignores its supervisor's shutdown.
hang(Pid) -> gen_server:call(Pid, hang, infinity).

init({Log, Path, Supervisor}) ->
    process_flag(trap_exit, true),
    ok = vigil_conformance_log:started(Log, Path, self(), Supervisor),
    {ok, #st{}}.

handle_call(hang, _From, S) -> {reply, ok, S#st{hang = true}}.

handle_cast(_Msg, S) -> {noreply, S}.

%% An exit signal from anyone but the supervisor (gen_server handles the
%% parent's itself): the script makes this run end with that reason.
handle_info({'EXIT', _From, Reason}, S) -> {stop, Reason, S#st{own_exit = true}};
handle_info(_Msg, S) -> {noreply, S}.

terminate(_Reason, #st{hang = true, own_exit = false}) ->
    %% Asked to stop by the supervisor while hung: wait for the kill.
    receive after infinity -> ok end;
terminate(_Reason, _S) ->
    ok.
