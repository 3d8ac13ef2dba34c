from vmb_agent.cli import main

main()
